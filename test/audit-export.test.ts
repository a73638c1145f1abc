import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import {
  api,
  expectDetail,
  expectError,
  seedApp,
} from './helpers';
import { ENTRY_FIELDS, T, byId, exportPage, ids, logPath, walkExport, writeEntry } from './audit-helpers';

describe('exporting a log as NDJSON', () => {
  it('walks the whole log oldest first in bounded pages, each entry exactly once', async () => {
    const app = await seedApp();
    const [created] = ids(await api('GET', logPath(app.name)));
    const written = [created];
    // Written in this order, with timestamps older than the app's creation: the export follows the writes.
    for (let i = 0; i < 11; i++) written.push(await writeEntry(app.id, T + i * 1000, { metadata: { n: i } }));
    const list = await api('GET', `${logPath(app.name)}?limit=100`);

    const first = await exportPage(`${logPath(app.name)}/export?limit=5`);
    expect(first.status).toBe(200);
    expect(first.headers.get('Content-Type')).toBe('application/x-ndjson; charset=utf-8');
    expect(first.headers.get('Cache-Control')).toBe('no-store');
    expect(first.headers.get('X-Content-Type-Options')).toBe('nosniff');
    expect(first.text.endsWith('\n')).toBe(true);
    expect(first.entries).toHaveLength(5);
    // The next page is named in full, on the public base.
    expect(first.headers.get('Link')).toBe(`<https://heimdall.test${logPath(app.name)}/export?limit=5&after=${first.entries[4].id}>; rel="next"`);
    for (const entry of first.entries) expect(Object.keys(entry)).toEqual(ENTRY_FIELDS);

    const walk = await walkExport(`${logPath(app.name)}/export?limit=5`);
    expect(walk.pages).toBe(3);
    expect(walk.last.entries).toHaveLength(2);
    expect(walk.last.next).toBeNull();
    expect(walk.entries.map((entry) => entry.id)).toEqual(written);
    // Every line is the entry exactly as the list shows it.
    expect(walk.entries.slice().sort(byId)).toEqual(list.body.data.slice().sort(byId));
  });

  it('resumes from the last id a walk saw, including an entry that committed late with an older timestamp', async () => {
    const app = await seedApp();
    await writeEntry(app.id, T + 10_000);
    const walk = await walkExport(`${logPath(app.name)}/export`);
    const last = walk.entries.at(-1).id;
    // A slow request read the clock before the last entry was written, and committed after the walk.
    const late = await writeEntry(app.id, T + 5_000);
    const resumed = await exportPage(`${logPath(app.name)}/export?after=${last}`);
    expect(resumed.entries.map((entry) => entry.id)).toEqual([late]);
    const done = await exportPage(`${logPath(app.name)}/export?after=${late}`);
    expect(done.status).toBe(200);
    expect(done.text).toBe('');
    expect(done.next).toBeNull();
  });

  it('bounds the export by from and to exactly as the list does', async () => {
    const app = await seedApp();
    for (const at of [T - 1, T, T + 999, T + 1000]) await writeEntry(app.id, at);
    const range = 'from=2026-02-20T10:15:00Z&to=2026-02-20T10:15:00Z';
    const listed = await api('GET', `${logPath(app.name)}?${range}`);
    expect(listed.body.pagination.total).toBe(2);
    const exported = await exportPage(`${logPath(app.name)}/export?${range}&limit=1`);
    expect(exported.next).toContain(encodeURIComponent('2026-02-20T10:15:00Z'));
    const walk = await walkExport(`${logPath(app.name)}/export?${range}&limit=1`);
    expect(walk.entries.map((entry) => entry.id)).toEqual(ids(listed).reverse());
  });

  it.each([
    ['limit=0', 'limit', 'too_small'],
    ['limit=1001', 'limit', 'too_large'],
    ['limit=ten', 'limit', 'invalid_format'],
    ['after=', 'after', 'invalid_cursor'],
    ['after=aud_x', 'after', 'invalid_cursor'],
    ['from=2026-02-20', 'from', 'invalid_format'],
    ['from=2026-02-20T10:15:01Z&to=2026-02-20T10:15:00Z', 'from', 'invalid_range'],
    ['offset=10', 'offset', 'unknown_field'],
    ['action=app.created', 'action', 'unknown_field'],
  ])('refuses ?%s with a 400 naming %s', async (q, field, reason) => {
    const app = await seedApp();
    const res = await api('GET', `${logPath(app.name)}/export?${q}`);
    expectError(res, 400, 'VALIDATION_ERROR');
    expectDetail(res, field, reason);
  });

  it('serves up to 1000 entries a page, 500 by default', async () => {
    const app = await seedApp();
    const values = Array.from({ length: 600 }, (_, i) => `('aud_01M8GCYKQVBFWM07Q9RW99N${String(i).padStart(3, '0')}', '${app.id}', 'root', 'app.updated', 'app', '{}', ${T + i})`);
    // Plain inserts: the triggers refuse only updates, deletes and replaced ids.
    await env.DB.prepare(`INSERT INTO audit_logs (id, app_id, actor_id, action, target_type, metadata, timestamp) VALUES ${values.join(', ')}`).run();
    const byDefault = await exportPage(`${logPath(app.name)}/export`);
    expect(byDefault.entries).toHaveLength(500);
    expect(byDefault.next).not.toBeNull();
    const max = await exportPage(`${logPath(app.name)}/export?limit=1000`);
    expect(max.entries).toHaveLength(601);
    expect(max.next).toBeNull();
  });

  it('keeps each entry on one line whatever its metadata holds', async () => {
    const app = await seedApp();
    const hostile = { note: 'line1\nline2\r\nline3', html: '</script><script>alert(1)</script>', ansi: '\u001b[31mred\u001b[0m', sep: 'a\u2028b\u2029c', nul: 'x\u0000y' };
    expect((await api('PATCH', `/v1/apps/${app.name}`, { body: { metadata: hostile } })).status).toBe(200);
    const page = await exportPage(`${logPath(app.name)}/export`);
    expect(page.text.split('\n')).toHaveLength(3); // two entries and the final newline
    expect(page.entries[1].metadata.changes.metadata.to).toEqual(hostile);
    const listed = await api('GET', `${logPath(app.name)}?action=app.updated`);
    expect(listed.body.data[0].metadata.changes.metadata.to).toEqual(hostile);
  });
});
