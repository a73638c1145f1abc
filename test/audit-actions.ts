/**
 * Every action of the audit log (CONTRACT §8), as a table the audit suites
 * run over: how to make the product perform it once through the API, and the
 * one entry it must leave. `audit-coverage.test.ts` checks each row's entry;
 * `audit-atomicity.test.ts` checks that each row's change and entry land
 * together or not at all.
 *
 * Building a feature that writes one of the PENDING_ACTIONS? Move the action
 * from PENDING_ACTIONS to a row of AUDIT_ACTION_CASES. The coverage suite
 * fails until you do: it watches the routes named beside each pending action.
 */
import type { AuditAction, AuditTargetType } from '../src/services/audit';
import { api, createRole, createUser, seedApp, uniqueName, type ApiResponse } from './helpers';

export const PASSWORD = 'correct horse battery staple';

export interface ExpectedEntry {
  /** Null for the global log. */
  appId: string | null;
  targetId: string;
  metadata: Record<string, unknown>;
  /** `root` unless said otherwise. */
  actorId?: string | null;
}

export interface Arranged {
  /** The app whose log (and state) the action touches; null for the global log. */
  appName: string | null;
}

export interface AuditActionCase<Ctx extends Arranged = any> {
  action: AuditAction;
  targetType: AuditTargetType;
  /** Builds what the action needs, in an app of its own; never performs the action itself. */
  arrange: () => Promise<Ctx>;
  /** Performs the action once, through the API. */
  act: (ctx: Ctx) => Promise<ApiResponse>;
  /** The one entry the action must leave. */
  expected: (ctx: Ctx, res: ApiResponse) => ExpectedEntry;
}

function row<Ctx extends Arranged>(c: AuditActionCase<Ctx>): AuditActionCase<Ctx> {
  return c;
}

const EDITOR = { name: 'editor', display_name: 'Editor', permissions: ['projects:read'] };

/** An app of its own, with an `editor` role and a user holding nothing. */
async function appWithEditorAndUser() {
  const app = await seedApp();
  const role = await createRole(app.name, EDITOR);
  const user = await createUser(app.name, { display_name: 'Old', password: PASSWORD });
  return { appName: app.name as string, app, role, user };
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
    act: (ctx) => api('PATCH', `/v1/apps/${ctx.appName}/users/${ctx.user.id}`, { body: { display_name: 'New', password: `${PASSWORD} 2` } }),
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
    // One entry for the forced delete, counting the assignments it removed (CONTRACT §8).
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
];

/**
 * Actions the product cannot perform yet, each with the routes (method and
 * path, as CONTRACT and the reference name them) that will perform it. The
 * coverage suite fails as soon as one of these routes exists while its
 * action is still listed here.
 */
export const PENDING_ACTIONS: Partial<Record<AuditAction, string[]>> = {
  'credential.created': ['POST /v1/apps/:app_name/credentials'],
  'credential.updated': ['PATCH /v1/apps/:app_name/credentials/:credential_id'],
  'credential.rotated': ['PATCH /v1/apps/:app_name/credentials/:credential_id'],
  'credential.revoked': ['DELETE /v1/apps/:app_name/credentials/:credential_id'],
  'invite.created': ['POST /v1/apps/:app_name/invites'],
  'invite.accepted': ['POST /v1/invites/:invite_token/accept'],
  'invite.revoked': ['DELETE /v1/apps/:app_name/invites/:invite_id'],
  'token.issued': ['POST /v1/apps/:app_name/tokens'],
  'token.refreshed': ['POST /v1/apps/:app_name/tokens/refresh'],
  'token.revoked': ['POST /v1/apps/:app_name/tokens/revoke'],
  'token.reuse_detected': ['POST /v1/apps/:app_name/tokens/refresh'],
  'auth.failed': ['POST /v1/apps/:app_name/tokens'],
  'admin_key.created': ['POST /v1/admin-keys'],
  'admin_key.revoked': ['DELETE /v1/admin-keys/:id'],
  'signing_key.rotated': ['POST /v1/signing-keys/rotate'],
};
