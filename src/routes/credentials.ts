/**
 * /v1/apps/:app_name/credentials (reference "Service Credentials (M2M)",
 * docs/resources.md#service-credentials): create, list, get, update or rotate, revoke.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { database } from '../db/client';
import type { CredentialRow } from '../db/schema';
import type { AppEnv } from '../lib/context';
import { page, paginated, paginationFields } from '../lib/pagination';
import { displayNameSchema, immutableField } from '../lib/schemas';
import { isoOrNull, isoSeconds } from '../lib/time';
import { jsonBody, query } from '../lib/validation';
import { actorOf } from '../middleware/admin-scope';
import { requireApp } from '../services/apps';
import {
  MAX_GRACE_PERIOD_SECONDS,
  createCredential,
  credentialPermissions,
  listCredentials,
  requireCredential,
  revokeCredential,
  updateCredential,
} from '../services/credentials';
import { permissionsSchema } from './roles';
import type { CredentialResource } from '../openapi/resources';

const createCredentialBody = z.strictObject({
  name: displayNameSchema,
  permissions: permissionsSchema,
});

const updateCredentialBody = z
  .strictObject({
    name: displayNameSchema.optional(),
    permissions: permissionsSchema.optional(),
    rotate_secret: z.boolean().optional(),
    grace_period_seconds: z.number().int().min(0).max(MAX_GRACE_PERIOD_SECONDS).optional(),
    client_id: immutableField,
  })
  .refine((b) => b.grace_period_seconds === undefined || b.rotate_secret === true, {
    path: ['grace_period_seconds'],
    params: { reason: 'requires_rotate_secret' },
    message: 'only applies with "rotate_secret": true',
  });

const listCredentialsQuery = z.strictObject({
  ...paginationFields,
  status: z.enum(['active', 'revoked']).optional(),
});

/**
 * A credential as the API shows it: the reference's fields in its order
 * (`client_secret` only when given: in the create and rotate answers), then
 * the state an operator needs. Never a digest.
 */
export function renderCredential(row: CredentialRow, secret?: string): CredentialResource {
  return {
    id: row.id,
    app_id: row.appId,
    name: row.name,
    client_id: row.clientId,
    ...(secret === undefined ? {} : { client_secret: secret }),
    permissions: credentialPermissions(row),
    created_at: isoSeconds(row.createdAt),
    status: row.status,
    secret_last4: row.secretLast4,
    updated_at: isoSeconds(row.updatedAt),
    rotated_at: isoOrNull(row.rotatedAt),
    // When the secret replaced by the last rotation stops (or stopped) working; null without a grace period.
    previous_secret_expires_at: isoOrNull(row.previousSecretExpiresAt),
    revoked_at: isoOrNull(row.revokedAt),
  };
}

export const credentialsRoutes = new Hono<AppEnv>()
  .post('/', jsonBody(createCredentialBody), async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    const { row, secret } = await createCredential(db, actorOf(c), app, c.req.valid('json'), Date.now());
    return c.json(renderCredential(row, secret), 201);
  })
  .get('/', query(listCredentialsQuery), async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    const q = c.req.valid('query');
    const p = page(q);
    const { rows, total } = await listCredentials(db, app.id, { status: q.status }, p);
    return c.json(paginated(rows.map((row) => renderCredential(row)), total, p));
  })
  .get('/:credential_id', async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    return c.json(renderCredential(await requireCredential(db, app.id, c.req.param('credential_id'))));
  })
  .patch('/:credential_id', jsonBody(updateCredentialBody), async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    const current = await requireCredential(db, app.id, c.req.param('credential_id'));
    const { row, secret } = await updateCredential(db, actorOf(c), app, current, c.req.valid('json'), Date.now());
    // A rotation's answer is the only one, after creation, that holds a secret.
    return c.json(renderCredential(row, secret ?? undefined));
  })
  .delete('/:credential_id', async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    const current = await requireCredential(db, app.id, c.req.param('credential_id'));
    return c.json(renderCredential(await revokeCredential(db, actorOf(c), app, current, Date.now())));
  });
