/**
 * Invites (reference "Invites", docs/resources.md#invites): `/v1/apps/:app_name/invites`
 * (admin: create, list pending, revoke) and `/v1/invites/:invite_token/accept`
 * (public, rate-limited per client IP in `app.ts`).
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { database } from '../db/client';
import type { AppEnv } from '../lib/context';
import { page, paginated, paginationFields } from '../lib/pagination';
import { publicBase } from '../lib/public-base';
import { displayNameSchema } from '../lib/schemas';
import { isoSeconds } from '../lib/time';
import { jsonBody, query } from '../lib/validation';
import { actorOf } from '../middleware/admin-scope';
import { requireApp } from '../services/apps';
import { acceptInvite } from '../services/invite-accept';
import { createInvite, inviteState, listPendingInvites, requireInvite, revokeInvite, type InviteWithRole } from '../services/invites';
import { roleNameSchema } from './roles';
import { emailSchema, passwordSchema, renderUser } from './users';
import type { InviteResource } from '../openapi/resources';

/** Bounds of an invite (docs/resources.md#invites). */
export const INVITE_HOURS = { min: 1, max: 720, default: 72 } as const;
export const INVITE_USES = { min: 1, max: 1000, default: 1 } as const;

const createInviteBody = z.strictObject({
  email: emailSchema.optional(),
  role: roleNameSchema,
  // Whole numbers only: 1.5 and "24" are refused, not rounded or coerced.
  expires_in_hours: z.int().min(INVITE_HOURS.min).max(INVITE_HOURS.max).default(INVITE_HOURS.default),
  max_uses: z.int().min(INVITE_USES.min).max(INVITE_USES.max).default(INVITE_USES.default),
});

const listInvitesQuery = z.strictObject({ ...paginationFields });

/**
 * Strict like every body: `role`, `roles` or `app_id` are refused (400
 * `unknown_field`), so nobody can hope to pick their own role or app.
 */
const acceptInviteBody = z.strictObject({
  password: passwordSchema,
  display_name: displayNameSchema.optional(),
  email: emailSchema.optional(),
});

/**
 * An invite as lists and revocations show it: the reference's fields in its
 * order, then `status` (`pending`, `used_up`, `expired` or `revoked`, as of
 * `now`). Never the token or its hash.
 */
export function renderInvite({ invite, role }: InviteWithRole, now: number): InviteResource {
  return {
    id: invite.id,
    app_id: invite.appId,
    email: invite.email,
    role,
    expires_at: isoSeconds(invite.expiresAt),
    max_uses: invite.maxUses,
    uses: invite.uses,
    created_at: isoSeconds(invite.createdAt),
    status: inviteState(invite, now),
  };
}

export const invitesRoutes = new Hono<AppEnv>()
  .post('/', jsonBody(createInviteBody), async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    const now = Date.now();
    const { token, ...created } = await createInvite(db, actorOf(c), app, c.req.valid('json'), now);
    const { id, app_id, email, role, ...rest } = renderInvite(created, now);
    // The only answer that ever holds the token, in the reference's field order.
    return c.json({
      id,
      app_id,
      email,
      role,
      token,
      invite_url: `${publicBase(c)}/v1/invites/${token}/accept`,
      ...rest,
    }, 201);
  })
  .get('/', query(listInvitesQuery), async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    const p = page(c.req.valid('query'));
    const now = Date.now();
    const { rows, total } = await listPendingInvites(db, app.id, now, p);
    return c.json(paginated(rows.map((row) => renderInvite(row, now)), total, p));
  })
  .delete('/:invite_id', async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    const current = await requireInvite(db, app.id, c.req.param('invite_id'));
    const now = Date.now();
    return c.json(renderInvite(await revokeInvite(db, actorOf(c), app, current, now), now));
  });

export const inviteAcceptRoutes = new Hono<AppEnv>()
  .post('/:invite_token/accept', jsonBody(acceptInviteBody), async (c) => {
    const { user, created } = await acceptInvite(
      { env: c.env, db: database(c.env), actor: actorOf(c, null), now: Date.now() },
      { token: c.req.param('invite_token'), ...c.req.valid('json') },
    );
    // 201 when the invite created the user; 200 when it added the role to an existing one.
    return c.json(renderUser(user), created ? 201 : 200);
  });
