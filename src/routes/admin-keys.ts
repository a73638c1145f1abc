/**
 * /v1/admin-keys: create, list, get, revoke managed admin keys (docs/resources.md#admin-keys).
 * Root key only; `app.ts` puts `requireRoot()` in front of every route here.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { database } from '../db/client';
import type { AdminKeyRow } from '../db/schema';
import type { AppEnv } from '../lib/context';
import { page, paginated, paginationFields } from '../lib/pagination';
import { displayNameSchema } from '../lib/schemas';
import { isoOrNull, isoSeconds } from '../lib/time';
import { jsonBody, query } from '../lib/validation';
import { actorOf } from '../middleware/admin-scope';
import { createAdminKey, listAdminKeys, requireAdminKey, revokeAdminKey } from '../services/admin-keys';
import { appNameSchema } from './apps';
import type { AdminKeyResource } from '../openapi/resources';

const createAdminKeyBody = z.strictObject({
  name: displayNameSchema,
  /** Absent or null: every app. A list must name existing apps (400 `unknown_app`). */
  apps: z.array(appNameSchema).min(1).max(100).nullable().optional(),
  read_only: z.boolean().optional(),
});

const listAdminKeysQuery = z.strictObject({
  ...paginationFields,
  status: z.enum(['active', 'revoked']).optional(),
});

/** A key as the API shows it: never the key, never its hash. */
export function renderAdminKey(row: AdminKeyRow): AdminKeyResource {
  return {
    id: row.id,
    name: row.name,
    apps: row.apps === null ? null : (JSON.parse(row.apps) as string[]),
    read_only: row.readOnly,
    status: row.status,
    created_at: isoSeconds(row.createdAt),
    revoked_at: isoOrNull(row.revokedAt),
  };
}

export const adminKeysRoutes = new Hono<AppEnv>()
  .post('/', jsonBody(createAdminKeyBody), async (c) => {
    const { row, key } = await createAdminKey(database(c.env), actorOf(c), c.req.valid('json'), Date.now());
    // The only answer that ever holds the key.
    return c.json({ ...renderAdminKey(row), key }, 201);
  })
  .get('/', query(listAdminKeysQuery), async (c) => {
    const q = c.req.valid('query');
    const p = page(q);
    const { rows, total } = await listAdminKeys(database(c.env), { status: q.status }, p);
    return c.json(paginated(rows.map(renderAdminKey), total, p));
  })
  .get('/:key_id', async (c) => {
    return c.json(renderAdminKey(await requireAdminKey(database(c.env), c.req.param('key_id'))));
  })
  .delete('/:key_id', async (c) => {
    const db = database(c.env);
    const row = await requireAdminKey(db, c.req.param('key_id'));
    return c.json(renderAdminKey(await revokeAdminKey(db, actorOf(c), row, Date.now())));
  });
