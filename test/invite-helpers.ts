/** Fixtures shared by the invite suites: an app with an `editor` role, and invites to it. */
import { expect, vi } from 'vitest';
import { api, createRole, issuedOnce, seedApp } from './helpers';

export const EDITOR = { name: 'editor', display_name: 'Editor', permissions: ['projects:read', 'projects:write'] };

export async function appWithEditor() {
  const app = await seedApp();
  const role = await createRole(app.name, EDITOR);
  return { app, role };
}

/**
 * An `invite(appName, body)` that creates an invite to `editor` (unless the
 * body says otherwise) and records its token with `issuedOnce`: no other
 * answer of the file may carry it.
 */
export function inviter() {
  return async (appName: string, body: Record<string, unknown> = {}): Promise<any> => {
    const res = await api('POST', `/v1/apps/${appName}/invites`, { body: { role: 'editor', ...body } });
    expect(res.status, res.text).toBe(201);
    issuedOnce(res.body.token);
    return res.body;
  };
}

/** An invite that lived one hour and was created two hours ago: expired now. */
export async function expiredInvite(invite: ReturnType<typeof inviter>, appName: string): Promise<any> {
  try {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() - 2 * 3_600_000 });
    return await invite(appName, { expires_in_hours: 1 });
  } finally {
    vi.useRealTimers();
  }
}
