import { describe, expect, it } from 'vitest';
import { app as router } from '../src/app';
import { AUDIT_ACTIONS } from '../src/services/audit';
import { AUDIT_ACTION_CASES, PENDING_ACTIONS, caseName } from './audit-actions';
import { logPath } from './audit-helpers';
import { ISO_SECONDS, api, idPattern } from './helpers';

const covered = [...new Set(AUDIT_ACTION_CASES.map((c) => c.action))];
const pending = Object.keys(PENDING_ACTIONS);

/** True when the router serves `method` on a path shaped like `path` (parameter names aside). */
function served(method: string, path: string): boolean {
  const concrete = path.replace(/:[A-Za-z_]+/g, 'x');
  return router.routes.some((r) => {
    if (r.method !== method) return false;
    const pattern = new RegExp(`^${r.path.replace(/\/$/, '').replace(/:[A-Za-z_]+/g, '[^/]+')}/?$`);
    return pattern.test(concrete);
  });
}

describe('the audit coverage table', () => {
  it('names every action of docs/audit-log.md exactly once: covered by a row, or pending', () => {
    const names = AUDIT_ACTION_CASES.map(caseName);
    expect(new Set(names).size, 'two rows of an action share a variant').toBe(names.length);
    expect(covered.filter((a) => pending.includes(a)), 'an action is both covered and pending').toEqual([]);
    expect([...covered, ...pending].sort()).toEqual([...AUDIT_ACTIONS].sort());
  });

  it('lists as pending exactly the actions whose routes do not exist yet', () => {
    for (const [action, routes] of Object.entries(PENDING_ACTIONS)) {
      for (const route of routes!) {
        const [method, path] = route.split(' ') as [string, string];
        expect(served(method, path), `${action} is pending, but ${route} now exists: move ${action} to a row of AUDIT_ACTION_CASES`).toBe(false);
      }
    }
    // The check itself works: routes that exist are seen.
    expect(served('POST', '/v1/apps/:app_name/users/:user_id/roles')).toBe(true);
    expect(served('GET', '/v1/apps/:name/audit-logs/:id')).toBe(true);
  });
});

describe('every action the product performs writes exactly one entry, read through the API', () => {
  it.each(AUDIT_ACTION_CASES.map((c) => [caseName(c), c] as const))('%s', async (_name, c) => {
    const { action } = c;
    const ctx = await c.arrange();
    const res = await c.act(ctx);
    if (c.change === 'refusal') expect(res.status, res.text).toBe(c.status);
    else expect(res.status, res.text).toBeLessThan(300);
    const want = c.expected(ctx, res);

    const log = logPath(ctx.appName);
    const list = await api('GET', `${log}?action=${action}`);
    expect(list.status).toBe(200);
    expect(list.body.pagination.total, `entries of ${action}`).toBe(1);
    const [entry] = list.body.data;
    expect(entry).toEqual({
      id: expect.stringMatching(idPattern('aud_')),
      app_id: want.appId,
      actor_id: want.actorId === undefined ? 'root' : want.actorId,
      action,
      target_type: c.targetType,
      target_id: want.targetId,
      metadata: want.metadata,
      ip_address: want.ipAddress ?? null,
      timestamp: expect.stringMatching(ISO_SECONDS),
      user_agent: null,
      request_id: res.headers.get('X-Request-Id'),
    });
    expect((await api('GET', `${log}/${entry.id}`)).body).toEqual(entry);
  });
});
