/**
 * /v1/apps: create, list, get, update, archive (reference "Apps", docs/resources.md#apps).
 * `app.ts` checks admin auth, write access and (for `/:app_name` and below)
 * the key's app scope before any route here runs.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { database } from '../db/client';
import type { AppRow } from '../db/schema';
import type { AppEnv } from '../lib/context';
import { page, paginated, paginationFields } from '../lib/pagination';
import { displayNameSchema, immutableField, metadataSchema } from '../lib/schemas';
import { isoSeconds } from '../lib/time';
import { jsonBody, query } from '../lib/validation';
import { actorOf, requireAppCreation } from '../middleware/admin-scope';
import { appView, archiveApp, createApp, listApps, requireApp, updateApp } from '../services/apps';
import type { AppResource } from '../openapi/resources';

/** 3-63 characters of a-z, 0-9 and -, starting and ending alphanumeric (docs/resources.md#apps). */
export const appNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, {
    error: 'must be 3-63 characters of a-z, 0-9 and -, starting and ending with a letter or digit',
  });

const createAppBody = z.strictObject({
  name: appNameSchema,
  display_name: displayNameSchema.optional(),
  metadata: metadataSchema.optional(),
});

const updateAppBody = z.strictObject({
  name: immutableField,
  display_name: displayNameSchema.nullable().optional(),
  metadata: metadataSchema.optional(),
  status: z.enum(['active', 'archived']).optional(),
});

const listAppsQuery = z.strictObject({
  ...paginationFields,
  status: z.enum(['active', 'archived']).optional(),
});

export function renderApp(app: AppRow): AppResource {
  return {
    id: app.id,
    name: app.name,
    ...appView(app),
    created_at: isoSeconds(app.createdAt),
    updated_at: isoSeconds(app.updatedAt),
  };
}

export const appsRoutes = new Hono<AppEnv>()
  .post('/', requireAppCreation(), jsonBody(createAppBody), async (c) => {
    const app = await createApp(database(c.env), actorOf(c), c.req.valid('json'), Date.now());
    return c.json(renderApp(app), 201);
  })
  .get('/', query(listAppsQuery), async (c) => {
    const q = c.req.valid('query');
    const p = page(q);
    const { rows, total } = await listApps(database(c.env), { status: q.status, names: c.var.admin.apps }, p);
    return c.json(paginated(rows.map(renderApp), total, p));
  })
  .get('/:app_name', async (c) => {
    const app = await requireApp(database(c.env), c.req.param('app_name'));
    return c.json(renderApp(app));
  })
  .patch('/:app_name', jsonBody(updateAppBody), async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name'));
    const updated = await updateApp(db, actorOf(c), app, c.req.valid('json'), Date.now());
    return c.json(renderApp(updated));
  })
  .delete('/:app_name', async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name'));
    return c.json(renderApp(await archiveApp(db, actorOf(c), app, Date.now())));
  });
