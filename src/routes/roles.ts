/**
 * /v1/apps/:app_name/roles (reference "Roles", docs/resources.md#roles).
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { PERMISSION_PATTERN } from '../auth/permissions';
import { database } from '../db/client';
import type { RoleRow } from '../db/schema';
import type { AppEnv } from '../lib/context';
import { page, paginated, paginationFields } from '../lib/pagination';
import { displayNameSchema, immutableField } from '../lib/schemas';
import { isoSeconds } from '../lib/time';
import { jsonBody, query } from '../lib/validation';
import { actorOf } from '../middleware/admin-scope';
import { requireApp } from '../services/apps';
import { createRole, deleteRole, listRoles, requireRole, rolePermissions, updateRole } from '../services/roles';
import type { RoleResource } from '../openapi/resources';

export const roleNameSchema = z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, {
  error: 'must start with a-z and hold at most 64 characters of a-z, 0-9, _ and -',
});

/** `resource:action`, `resource:*` or `*`, lower case (docs/resources.md#permissions). */
export const permissionSchema = z.string().regex(PERMISSION_PATTERN, {
  error: 'must be resource:action in lower case (a-z, 0-9, _ . -), resource:* or *',
});

export const permissionsSchema = z.array(permissionSchema).max(200);

const createRoleBody = z.strictObject({
  name: roleNameSchema,
  display_name: displayNameSchema.optional(),
  permissions: permissionsSchema,
});

const updateRoleBody = z.strictObject({
  name: immutableField,
  display_name: displayNameSchema.nullable().optional(),
  permissions: permissionsSchema.optional(),
});

const deleteRoleQuery = z.strictObject({ force: z.enum(['true', 'false']).optional() });

export function renderRole(role: RoleRow): RoleResource {
  return {
    id: role.id,
    app_id: role.appId,
    name: role.name,
    display_name: role.displayName,
    permissions: rolePermissions(role),
    created_at: isoSeconds(role.createdAt),
  };
}

export const rolesRoutes = new Hono<AppEnv>()
  .post('/', jsonBody(createRoleBody), async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    const role = await createRole(db, actorOf(c), app, c.req.valid('json'), Date.now());
    return c.json(renderRole(role), 201);
  })
  .get('/', query(z.strictObject(paginationFields)), async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    const p = page(c.req.valid('query'));
    const { rows, total } = await listRoles(db, app.id, p);
    return c.json(paginated(rows.map(renderRole), total, p));
  })
  .get('/:role_name', async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    return c.json(renderRole(await requireRole(db, app.id, c.req.param('role_name'))));
  })
  .patch('/:role_name', jsonBody(updateRoleBody), async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    const role = await requireRole(db, app.id, c.req.param('role_name'));
    return c.json(renderRole(await updateRole(db, actorOf(c), app, role, c.req.valid('json'), Date.now())));
  })
  .delete('/:role_name', query(deleteRoleQuery), async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    const role = await requireRole(db, app.id, c.req.param('role_name'));
    const force = c.req.valid('query').force === 'true';
    return c.json(renderRole(await deleteRole(db, actorOf(c), app, role, force, Date.now())));
  });
