/**
 * /v1/apps/:app_name/users (reference "Users", docs/resources.md#users).
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { PASSWORD_MAX, PASSWORD_MIN, PASSWORD_RAW_MAX, normalisePassword } from '../auth/passwords';
import { database } from '../db/client';
import type { AppEnv } from '../lib/context';
import { page, paginated, paginationFields } from '../lib/pagination';
import { displayNameSchema, metadataSchema } from '../lib/schemas';
import { isoSeconds } from '../lib/time';
import { jsonBody, query } from '../lib/validation';
import { actorOf } from '../middleware/admin-scope';
import { requireApp } from '../services/apps';
import { requireRole } from '../services/roles';
import {
  assignRole,
  createUser,
  deactivateUser,
  listUsers,
  normaliseEmail,
  removeRole,
  requireUser,
  resolveRoles,
  updateUser,
  type UserWithRoles,
} from '../services/users';
import { roleNameSchema } from './roles';
import type { UserResource } from '../openapi/resources';

/** Trimmed, lower-cased, then checked (ASCII addresses up to 254 characters). */
export const emailSchema = z
  .string()
  .max(320)
  .transform(normaliseEmail)
  .pipe(z.email({ error: 'must be a valid email address' }).max(254));

/** NFKC-normalised, then 8-256 characters; refused before hashing when longer. */
export const passwordSchema = z
  .string()
  .max(PASSWORD_RAW_MAX, { error: `must be at most ${PASSWORD_MAX} characters` })
  .transform((raw, ctx) => {
    const result = normalisePassword(raw);
    if (result.ok) return result.value;
    ctx.addIssue({
      code: 'custom',
      params: { reason: result.problem },
      message: result.problem === 'too_short' ? `must be at least ${PASSWORD_MIN} characters` : `must be at most ${PASSWORD_MAX} characters`,
    });
    return z.NEVER;
  });

const createUserBody = z
  .strictObject({
    email: emailSchema,
    display_name: displayNameSchema.optional(),
    password: passwordSchema.optional(),
    role: roleNameSchema.optional(),
    roles: z.array(roleNameSchema).max(50).optional(),
    metadata: metadataSchema.optional(),
  })
  .refine((b) => b.role === undefined || b.roles === undefined, {
    params: { reason: 'conflicting_fields' },
    path: ['roles'],
    message: 'give either role or roles, not both',
  });

const updateUserBody = z.strictObject({
  email: emailSchema.optional(),
  display_name: displayNameSchema.nullable().optional(),
  password: passwordSchema.optional(),
  metadata: metadataSchema.optional(),
  status: z.enum(['active', 'deactivated']).optional(),
});

const listUsersQuery = z.strictObject({
  ...paginationFields,
  status: z.enum(['active', 'deactivated']).optional(),
  role: z.string().max(64).optional(),
  email: z.string().max(320).optional(),
});

const assignRoleBody = z.strictObject({ role: roleNameSchema });

export function renderUser({ user, roles }: UserWithRoles): UserResource {
  return {
    id: user.id,
    app_id: user.appId,
    email: user.email,
    display_name: user.displayName,
    roles,
    status: user.status,
    metadata: JSON.parse(user.metadata) as Record<string, unknown>,
    created_at: isoSeconds(user.createdAt),
  };
}

export const usersRoutes = new Hono<AppEnv>()
  .post('/', jsonBody(createUserBody), async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    const body = c.req.valid('json');
    const roles = body.role !== undefined
      ? [{ name: body.role, field: 'role' }]
      : (body.roles ?? []).map((name, i) => ({ name, field: `roles.${i}` }));
    const created = await createUser(db, actorOf(c), app, { ...body, roles }, Date.now());
    return c.json(renderUser(created), 201);
  })
  .get('/', query(listUsersQuery), async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    const q = c.req.valid('query');
    const p = page(q);
    const { rows, total } = await listUsers(db, app.id, q, p);
    return c.json(paginated(rows.map(renderUser), total, p));
  })
  .get('/:user_id', async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    return c.json(renderUser(await requireUser(db, app.id, c.req.param('user_id'))));
  })
  .patch('/:user_id', jsonBody(updateUserBody), async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    const current = await requireUser(db, app.id, c.req.param('user_id'));
    return c.json(renderUser(await updateUser(db, actorOf(c), app, current, c.req.valid('json'), Date.now())));
  })
  .delete('/:user_id', async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    const current = await requireUser(db, app.id, c.req.param('user_id'));
    return c.json(renderUser(await deactivateUser(db, actorOf(c), app, current, Date.now())));
  })
  .post('/:user_id/roles', jsonBody(assignRoleBody), async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    const current = await requireUser(db, app.id, c.req.param('user_id'));
    const [role] = await resolveRoles(db, app.id, [{ name: c.req.valid('json').role, field: 'role' }]);
    return c.json(renderUser(await assignRole(db, actorOf(c), app, current, role!, Date.now())));
  })
  .delete('/:user_id/roles/:role_name', async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    const current = await requireUser(db, app.id, c.req.param('user_id'));
    const role = await requireRole(db, app.id, c.req.param('role_name'));
    return c.json(renderUser(await removeRole(db, actorOf(c), app, current, role, Date.now())));
  });
