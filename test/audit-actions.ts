/**
 * Every action of the audit log (docs/audit-log.md#actions), as a table the audit suites
 * run over: how to make the product perform it once through the API, and the
 * one entry it must leave. `audit-coverage.test.ts` checks each row's entry;
 * `audit-atomicity.test.ts` checks that each row's change and entry land
 * together or not at all.
 *
 * Building a feature that writes one of the PENDING_ACTIONS? Move the action
 * from PENDING_ACTIONS to a row of AUDIT_ACTION_CASES. The coverage suite
 * fails until you do: it watches the routes named beside each pending action.
 */
import { expect } from 'vitest';
import type { AuditAction, AuditTargetType } from '../src/services/audit';
import { BILLING, clientCredentials, createCredential } from './credential-helpers';
import { OTHER_PASSWORD, PASSWORD, api, createAdminKey, createRole, createUser, login, seedApp, uniqueName, type ApiResponse } from './helpers';

export interface ExpectedEntry {
  /** Null for the global log. */
  appId: string | null;
  targetId: string;
  metadata: Record<string, unknown>;
  /** `root` unless said otherwise. */
  actorId?: string | null;
  /** The CF-Connecting-IP the action was sent with; null (none) unless said otherwise. */
  ipAddress?: string | null;
}

export interface Arranged {
  /** The app whose log (and state) the action touches; null for the global log. */
  appName: string | null;
}

export interface AuditActionCase<Ctx extends Arranged = any> {
  action: AuditAction;
  /**
   * Tells apart two rows of one action that two paths perform (`token.issued`
   * by the password and the client-credentials grants). Rows are keyed by
   * action and variant.
   */
  variant?: string;
  targetType: AuditTargetType;
  /** Builds what the action needs, in an app of its own; never performs the action itself. */
  arrange: () => Promise<Ctx>;
  /** Performs the action once, through the API. */
  act: (ctx: Ctx) => Promise<ApiResponse>;
  /** The one entry the action must leave. */
  expected: (ctx: Ctx, res: ApiResponse) => ExpectedEntry;
  /**
   * Where the recorded change lives. `d1` (the default): in the same batch as
   * its entry, which the atomicity suite checks. `durable_object`: token state
   * lives in a Durable Object, which no D1 batch can include; the entry is
   * written next to the change (see the README). `refusal`: the event is a
   * refused request, which changes nothing. `none`: nothing is stored but the
   * entry (a service token is a signed JWT kept nowhere); the atomicity suite
   * checks that when the entry cannot be written, the request fails, so
   * nothing leaves without its entry.
   */
  change?: 'd1' | 'durable_object' | 'refusal' | 'none';
  /** The status the action answers when it is a refusal. */
  status?: number;
}

function row<Ctx extends Arranged>(c: AuditActionCase<Ctx>): AuditActionCase<Ctx> {
  return c;
}

/** A row's name in test titles: its action, and its variant if it has one. */
export function caseName(c: AuditActionCase): string {
  return c.variant === undefined ? c.action : `${c.action} (${c.variant})`;
}

const EDITOR = { name: 'editor', display_name: 'Editor', permissions: ['projects:read'] };

/** An app of its own with the reference's `billing-service` credential. */
async function appWithCredential() {
  const app = await seedApp();
  const credential = await createCredential(app.name);
  return { appName: app.name as string, app, credential };
}

/** An app of its own, with an `editor` role and a user holding nothing. */
async function appWithEditorAndUser() {
  const app = await seedApp();
  const role = await createRole(app.name, EDITOR);
  const user = await createUser(app.name, { display_name: 'Old', password: PASSWORD });
  return { appName: app.name as string, app, role, user };
}

/** The same, with a pending single-use invite to `editor` for a new email. */
async function appWithEditorAndInvite() {
  const ctx = await appWithEditorAndUser();
  const res = await api('POST', `/v1/apps/${ctx.appName}/invites`, { body: { email: `${uniqueName('invitee')}@example.com`, role: 'editor' } });
  expect(res.status, res.text).toBe(201);
  return { ...ctx, invite: res.body };
}

export const AUDIT_ACTION_CASES: AuditActionCase[] = [
  row({
    action: 'app.created',
    targetType: 'app',
    arrange: async () => ({ appName: uniqueName() }),
    act: (ctx) => api('POST', '/v1/apps', { body: { name: ctx.appName, display_name: 'Acme', metadata: { plan: 'growth' } } }),
    expected: (ctx, res) => ({ appId: res.body.id, targetId: res.body.id, metadata: { name: ctx.appName, display_name: 'Acme', default_role: 'admin' } }),
  }),
  row({
    action: 'app.updated',
    targetType: 'app',
    arrange: async () => {
      const app = await seedApp();
      return { appName: app.name as string, app };
    },
    act: (ctx) => api('PATCH', `/v1/apps/${ctx.appName}`, { body: { display_name: 'Renamed' } }),
    expected: ({ app }) => ({ appId: app.id, targetId: app.id, metadata: { changes: { display_name: { from: 'Test App', to: 'Renamed' } } } }),
  }),
  row({
    action: 'app.archived',
    targetType: 'app',
    arrange: async () => {
      const app = await seedApp();
      return { appName: app.name as string, app };
    },
    act: (ctx) => api('DELETE', `/v1/apps/${ctx.appName}`),
    expected: ({ app }) => ({ appId: app.id, targetId: app.id, metadata: { name: app.name } }),
  }),
  row({
    action: 'user.created',
    targetType: 'user',
    arrange: async () => {
      const app = await seedApp();
      return { appName: app.name as string, app };
    },
    act: (ctx) =>
      api('POST', `/v1/apps/${ctx.appName}/users`, {
        body: { email: 'Jane@Acme.co', display_name: 'Jane Chen', password: PASSWORD, role: 'admin', metadata: { department: 'engineering' } },
      }),
    expected: ({ app }, res) => ({ appId: app.id, targetId: res.body.id, metadata: { email: 'jane@acme.co', roles: ['admin'] } }),
  }),
  row({
    action: 'user.updated',
    targetType: 'user',
    arrange: appWithEditorAndUser,
    act: (ctx) => api('PATCH', `/v1/apps/${ctx.appName}/users/${ctx.user.id}`, { body: { display_name: 'New', password: OTHER_PASSWORD } }),
    // The fact of a password change, never the password.
    expected: ({ app, user }) => ({ appId: app.id, targetId: user.id, metadata: { changes: { display_name: { from: 'Old', to: 'New' } }, password_changed: true } }),
  }),
  row({
    action: 'user.deactivated',
    targetType: 'user',
    arrange: appWithEditorAndUser,
    act: (ctx) => api('DELETE', `/v1/apps/${ctx.appName}/users/${ctx.user.id}`),
    expected: ({ app, user }) => ({ appId: app.id, targetId: user.id, metadata: { email: user.email } }),
  }),
  row({
    action: 'role.created',
    targetType: 'role',
    arrange: async () => {
      const app = await seedApp();
      return { appName: app.name as string, app };
    },
    act: (ctx) => api('POST', `/v1/apps/${ctx.appName}/roles`, { body: { ...EDITOR, permissions: ['projects:read', 'projects:read', 'comments:*'] } }),
    expected: ({ app }, res) => ({ appId: app.id, targetId: res.body.id, metadata: { name: 'editor', permissions: ['projects:read', 'comments:*'] } }),
  }),
  row({
    action: 'role.updated',
    targetType: 'role',
    arrange: appWithEditorAndUser,
    act: (ctx) => api('PATCH', `/v1/apps/${ctx.appName}/roles/editor`, { body: { permissions: ['projects:read', 'projects:write'] } }),
    expected: ({ app, role }) => ({
      appId: app.id,
      targetId: role.id,
      metadata: { name: 'editor', changes: { permissions: { from: ['projects:read'], to: ['projects:read', 'projects:write'] } } },
    }),
  }),
  row({
    action: 'role.deleted',
    targetType: 'role',
    arrange: async () => {
      const ctx = await appWithEditorAndUser();
      await api('POST', `/v1/apps/${ctx.appName}/users/${ctx.user.id}/roles`, { body: { role: 'editor' } });
      return ctx;
    },
    act: (ctx) => api('DELETE', `/v1/apps/${ctx.appName}/roles/editor?force=true`),
    // One entry for the forced delete, counting the assignments it removed (docs/audit-log.md#actions).
    expected: ({ app, role }) => ({
      appId: app.id,
      targetId: role.id,
      metadata: { name: 'editor', permissions: ['projects:read'], forced: true, assignments_removed: 1, invites_revoked: 0 },
    }),
  }),
  row({
    action: 'role.assigned',
    targetType: 'user',
    arrange: appWithEditorAndUser,
    act: (ctx) => api('POST', `/v1/apps/${ctx.appName}/users/${ctx.user.id}/roles`, { body: { role: 'editor' } }),
    expected: ({ app, role, user }) => ({ appId: app.id, targetId: user.id, metadata: { role: 'editor', role_id: role.id } }),
  }),
  row({
    action: 'role.removed',
    targetType: 'user',
    arrange: async () => {
      const ctx = await appWithEditorAndUser();
      await api('POST', `/v1/apps/${ctx.appName}/users/${ctx.user.id}/roles`, { body: { role: 'editor' } });
      return ctx;
    },
    act: (ctx) => api('DELETE', `/v1/apps/${ctx.appName}/users/${ctx.user.id}/roles/editor`),
    expected: ({ app, role, user }) => ({ appId: app.id, targetId: user.id, metadata: { role: 'editor', role_id: role.id } }),
  }),
  row({
    action: 'invite.created',
    targetType: 'invite',
    arrange: appWithEditorAndUser,
    act: (ctx) => api('POST', `/v1/apps/${ctx.appName}/invites`, { body: { email: 'Bob@Contractor.io', role: 'editor', expires_in_hours: 72, max_uses: 1 } }),
    // Never the token: the invite's id names it.
    expected: ({ app }, res) => ({
      appId: app.id,
      targetId: res.body.id,
      metadata: { email: 'bob@contractor.io', role: 'editor', expires_at: res.body.expires_at, max_uses: 1 },
    }),
  }),
  row({
    action: 'invite.accepted',
    targetType: 'invite',
    arrange: appWithEditorAndInvite,
    act: (ctx) => api('POST', `/v1/invites/${ctx.invite.token}/accept`, { key: null, body: { password: PASSWORD } }),
    // The accepting user is the actor; the entry targets the invite and names the user.
    expected: ({ app, invite }, res) => ({
      appId: app.id,
      targetId: invite.id,
      actorId: res.body.id,
      metadata: { user_id: res.body.id, email: invite.email, role: 'editor', new_user: true, role_added: true },
    }),
  }),
  row({
    action: 'invite.revoked',
    targetType: 'invite',
    arrange: appWithEditorAndInvite,
    act: (ctx) => api('DELETE', `/v1/apps/${ctx.appName}/invites/${ctx.invite.id}`),
    expected: ({ app, invite }) => ({
      appId: app.id,
      targetId: invite.id,
      metadata: { email: invite.email, role: 'editor', uses: 0, previous_status: 'pending' },
    }),
  }),
  row({
    action: 'credential.created',
    targetType: 'credential',
    arrange: async () => {
      const app = await seedApp();
      return { appName: app.name as string, app };
    },
    act: (ctx) => api('POST', `/v1/apps/${ctx.appName}/credentials`, { body: { ...BILLING, permissions: ['billing:read', 'billing:read', 'billing:write'] } }),
    // The client id, never the secret or its digest.
    expected: ({ app }, res) => ({
      appId: app.id,
      targetId: res.body.id,
      metadata: { name: 'billing-service', client_id: res.body.client_id, permissions: ['billing:read', 'billing:write'] },
    }),
  }),
  row({
    action: 'credential.updated',
    targetType: 'credential',
    arrange: appWithCredential,
    act: (ctx) => api('PATCH', `/v1/apps/${ctx.appName}/credentials/${ctx.credential.id}`, { body: { name: 'billing-v2', permissions: ['billing:*'] } }),
    expected: ({ app, credential }) => ({
      appId: app.id,
      targetId: credential.id,
      metadata: {
        name: 'billing-service',
        changes: { name: { from: 'billing-service', to: 'billing-v2' }, permissions: { from: ['billing:read', 'billing:write'], to: ['billing:*'] } },
      },
    }),
  }),
  row({
    action: 'credential.rotated',
    targetType: 'credential',
    arrange: appWithCredential,
    act: (ctx) => api('PATCH', `/v1/apps/${ctx.appName}/credentials/${ctx.credential.id}`, { body: { rotate_secret: true, grace_period_seconds: 3600 } }),
    // The new secret's last four characters identify it; the secret itself is never recorded.
    expected: ({ app, credential }, res) => ({
      appId: app.id,
      targetId: credential.id,
      metadata: { name: 'billing-service', secret_last4: res.body.secret_last4, grace_period_seconds: 3600, previous_secret_expires_at: res.body.previous_secret_expires_at },
    }),
  }),
  row({
    action: 'credential.revoked',
    targetType: 'credential',
    arrange: appWithCredential,
    act: (ctx) => api('DELETE', `/v1/apps/${ctx.appName}/credentials/${ctx.credential.id}`),
    expected: ({ app, credential }) => ({ appId: app.id, targetId: credential.id, metadata: { name: 'billing-service', client_id: credential.client_id } }),
  }),
  row({
    action: 'token.issued',
    targetType: 'token',
    change: 'durable_object',
    arrange: appWithEditorAndUser,
    act: (ctx) => login(ctx.appName, ctx.user.email, PASSWORD, '203.0.113.42'),
    expected: ({ app, user }, res) => ({
      appId: app.id,
      targetId: familyOf(res.body.refresh_token),
      actorId: user.id,
      ipAddress: '203.0.113.42',
      metadata: { grant_type: 'password', subject: user.id, jti: jtiOf(res.body.access_token), roles: [] },
    }),
  }),
  row({
    action: 'token.issued',
    variant: 'client_credentials',
    targetType: 'token',
    change: 'none',
    arrange: async () => {
      const ctx = await appWithCredential();
      // The signing keys exist before the act, so the act stores nothing but its entry.
      await api('GET', '/v1/signing-keys');
      return ctx;
    },
    act: (ctx) => clientCredentials(ctx.appName, ctx.credential.client_id, ctx.credential.client_secret, 'basic', { ip: '203.0.113.43' }),
    // The credential is the actor; the access token (by its jti) is the target.
    expected: ({ app, credential }, res) => ({
      appId: app.id,
      targetId: jtiOf(res.body.access_token),
      actorId: credential.id,
      ipAddress: '203.0.113.43',
      metadata: {
        grant_type: 'client_credentials',
        subject: credential.id,
        client_id: credential.client_id,
        jti: jtiOf(res.body.access_token),
        permissions: ['billing:read', 'billing:write'],
        auth_method: 'client_secret_basic',
        secret_used: 'current',
      },
    }),
  }),
  row({
    action: 'token.refreshed',
    targetType: 'token',
    change: 'durable_object',
    arrange: async () => {
      const ctx = await appWithEditorAndUser();
      return { ...ctx, refreshToken: (await login(ctx.appName, ctx.user.email, PASSWORD)).body.refresh_token as string };
    },
    act: (ctx) => api('POST', `/v1/apps/${ctx.appName}/tokens/refresh`, { key: null, body: { refresh_token: ctx.refreshToken } }),
    expected: ({ app, user, refreshToken }, res) => ({
      appId: app.id,
      targetId: familyOf(refreshToken),
      actorId: user.id,
      metadata: { subject: user.id, jti: jtiOf(res.body.access_token), roles: [] },
    }),
  }),
  row({
    action: 'token.revoked',
    targetType: 'token',
    change: 'durable_object',
    arrange: async () => {
      const ctx = await appWithEditorAndUser();
      return { ...ctx, refreshToken: (await login(ctx.appName, ctx.user.email, PASSWORD)).body.refresh_token as string };
    },
    act: (ctx) => api('POST', `/v1/apps/${ctx.appName}/tokens/revoke`, { key: null, body: { refresh_token: ctx.refreshToken } }),
    expected: ({ app, user, refreshToken }) => ({
      appId: app.id,
      targetId: familyOf(refreshToken),
      actorId: user.id,
      metadata: { subject: user.id, token_type: 'refresh_token' },
    }),
  }),
  row({
    action: 'token.reuse_detected',
    targetType: 'token',
    change: 'refusal',
    status: 401,
    arrange: async () => {
      const ctx = await appWithEditorAndUser();
      const first = (await login(ctx.appName, ctx.user.email, PASSWORD)).body.refresh_token as string;
      await api('POST', `/v1/apps/${ctx.appName}/tokens/refresh`, { key: null, body: { refresh_token: first } });
      return { ...ctx, refreshToken: first };
    },
    act: (ctx) => api('POST', `/v1/apps/${ctx.appName}/tokens/refresh`, { key: null, body: { refresh_token: ctx.refreshToken } }),
    // Nobody authenticated presented it: no actor; the family is named, never the token.
    expected: ({ app, user, refreshToken }) => ({
      appId: app.id,
      targetId: familyOf(refreshToken),
      actorId: null,
      metadata: { subject: user.id, family_revoked: true },
    }),
  }),
  row({
    action: 'auth.failed',
    targetType: 'user',
    change: 'refusal',
    status: 401,
    arrange: appWithEditorAndUser,
    act: (ctx) => login(ctx.appName, ctx.user.email, 'not the password', '198.51.100.23'),
    expected: ({ app, user }) => ({
      appId: app.id,
      targetId: user.id,
      actorId: null,
      ipAddress: '198.51.100.23',
      metadata: { grant_type: 'password', email: user.email, reason: 'invalid_credentials' },
    }),
  }),
  row({
    action: 'auth.failed',
    variant: 'client_credentials',
    targetType: 'credential',
    change: 'refusal',
    status: 401,
    arrange: appWithCredential,
    act: (ctx) => clientCredentials(ctx.appName, ctx.credential.client_id, `${ctx.credential.client_secret}x`, 'json', { ip: '198.51.100.24' }),
    // The credential the client id names; the presented secret is never recorded.
    expected: ({ app, credential }) => ({
      appId: app.id,
      targetId: credential.id,
      actorId: null,
      ipAddress: '198.51.100.24',
      metadata: { grant_type: 'client_credentials', client_id: credential.client_id, auth_method: 'client_secret_post', reason: 'invalid_secret' },
    }),
  }),
  row({
    action: 'admin_key.created',
    targetType: 'admin_key',
    arrange: async () => {
      const app = await seedApp();
      return { appName: null, app };
    },
    act: (ctx) => api('POST', '/v1/admin-keys', { body: { name: 'support', apps: [ctx.app.name], read_only: true } }),
    expected: ({ app }, res) => ({ appId: null, targetId: res.body.id, metadata: { name: 'support', apps: [app.name], read_only: true } }),
  }),
  row({
    action: 'admin_key.revoked',
    targetType: 'admin_key',
    arrange: async () => ({ appName: null, key: await createAdminKey({ name: 'to revoke' }) }),
    act: (ctx) => api('DELETE', `/v1/admin-keys/${ctx.key.id}`),
    expected: ({ key }) => ({ appId: null, targetId: key.id, metadata: { name: 'to revoke' } }),
  }),
  row({
    action: 'signing_key.rotated',
    targetType: 'signing_key',
    arrange: async () => {
      const keys = (await api('GET', '/v1/signing-keys')).body.data as { kid: string; status: string }[];
      return { appName: null, keys };
    },
    act: () => api('POST', '/v1/signing-keys/rotate'),
    expected: ({ keys }, res) => {
      const after = res.body.data as { kid: string; status: string }[];
      const active = after.find((k) => k.status === 'active')!;
      const next = after.find((k) => k.status === 'next')!;
      return {
        appId: null,
        targetId: active.kid,
        metadata: {
          trigger: 'admin',
          retired_kid: keys.find((k) => k.status === 'active')!.kid,
          active_kid: active.kid,
          next_kid: next.kid,
          retired_until: expect.stringMatching(/Z$/),
        },
      };
    },
  }),
];

function familyOf(refreshToken: string): string {
  return refreshToken.slice(3, 29);
}

function jtiOf(accessToken: string): string {
  return JSON.parse(atob(accessToken.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))).jti;
}

/**
 * Actions the product cannot perform yet, each with the routes (method and
 * path, as the docs and the reference name them) that will perform it. The
 * coverage suite fails as soon as one of these routes exists while its
 * action is still listed here.
 */
export const PENDING_ACTIONS: Partial<Record<AuditAction, string[]>> = {};
