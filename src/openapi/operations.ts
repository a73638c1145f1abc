/**
 * What the router cannot say about its routes: a summary, a tag, the answer's
 * status and schema, and the reference's examples. Request schemas are not
 * here: the document reads them from the validators on each route. Every
 * route the router serves must have an entry (a test holds this).
 */
import type { z } from 'zod';
import {
  adminKeyResource,
  appResource,
  auditEntryResource,
  authorizationServerResource,
  authorizeResource,
  credentialResource,
  createdAdminKeyResource,
  createdInviteResource,
  emptyResource,
  healthResource,
  inviteResource,
  jwksResource,
  listOf,
  revocationFeedResource,
  roleResource,
  signingKeyResource,
  tokenResource,
  userResource,
} from './resources';

export interface OperationDoc {
  summary: string;
  tag: string;
  /** Success status and the schema of its body (null: no body). */
  status: number;
  response: z.ZodType | null;
  /** Response media type when not JSON. */
  mediaType?: string;
  description?: string;
  requestExample?: unknown;
  responseExample?: unknown;
}

const apps = listOf(appResource, 'AppList');
const users = listOf(userResource, 'UserList');
const roles = listOf(roleResource, 'RoleList');
const adminKeys = listOf(adminKeyResource, 'AdminKeyList');
const signingKeys = listOf(signingKeyResource, 'SigningKeyList');
const auditEntries = listOf(auditEntryResource, 'AuditEntryList');
const invites = listOf(inviteResource, 'InviteList');
const credentials = listOf(credentialResource, 'CredentialList');

const TOKEN_EXAMPLE = { grant_type: 'password', email: 'jane@acme.co', password: '...' };

export const OPERATIONS: Record<string, OperationDoc> = {
  'GET /v1/health': { summary: 'Liveness (touches no storage)', tag: 'Operations', status: 200, response: healthResource },
  'GET /v1/.well-known/jwks.json': {
    summary: 'Public JWKS endpoint for local verification',
    tag: 'Tokens',
    status: 200,
    response: jwksResource,
    description: 'Every key that can still verify a live token; public members only. Cached 5 minutes, ETag, any origin.',
  },

  'POST /v1/apps': {
    summary: 'Create a new App',
    tag: 'Apps',
    status: 201,
    response: appResource,
    requestExample: { name: 'acme-corp', display_name: 'Acme Corporation', metadata: { plan: 'growth', region: 'us-east-1' } },
  },
  'GET /v1/apps': { summary: 'List all Apps', tag: 'Apps', status: 200, response: apps },
  'GET /v1/apps/:app_name': { summary: 'Get an App by name', tag: 'Apps', status: 200, response: appResource },
  'PATCH /v1/apps/:app_name': {
    summary: 'Update an App',
    tag: 'Apps',
    status: 200,
    response: appResource,
    description: 'Changes only the fields sent; `{"status": "active"}` restores an archived app.',
  },
  'DELETE /v1/apps/:app_name': { summary: 'Archive an App', tag: 'Apps', status: 200, response: appResource },

  'POST /v1/apps/:app_name/users': {
    summary: 'Create a user',
    tag: 'Users',
    status: 201,
    response: userResource,
    requestExample: { email: 'jane@acme.co', display_name: 'Jane Chen', password: '...', role: 'admin', metadata: { department: 'engineering' } },
  },
  'GET /v1/apps/:app_name/users': { summary: 'List users in an App', tag: 'Users', status: 200, response: users },
  'GET /v1/apps/:app_name/users/:user_id': { summary: 'Get a user by ID', tag: 'Users', status: 200, response: userResource },
  'PATCH /v1/apps/:app_name/users/:user_id': { summary: 'Update a user', tag: 'Users', status: 200, response: userResource },
  'DELETE /v1/apps/:app_name/users/:user_id': { summary: 'Deactivate a user', tag: 'Users', status: 200, response: userResource },
  'POST /v1/apps/:app_name/users/:user_id/roles': {
    summary: 'Assign a role to a user',
    tag: 'Users',
    status: 200,
    response: userResource,
    requestExample: { role: 'editor' },
  },
  'DELETE /v1/apps/:app_name/users/:user_id/roles/:role_name': { summary: 'Remove a role from a user', tag: 'Users', status: 200, response: userResource },

  'POST /v1/apps/:app_name/roles': {
    summary: 'Create a role',
    tag: 'Roles',
    status: 201,
    response: roleResource,
    requestExample: { name: 'editor', display_name: 'Editor', permissions: ['projects:read', 'projects:write', 'comments:read', 'comments:write'] },
  },
  'GET /v1/apps/:app_name/roles': { summary: 'List roles in an App', tag: 'Roles', status: 200, response: roles },
  'GET /v1/apps/:app_name/roles/:role_name': { summary: 'Get a role by name', tag: 'Roles', status: 200, response: roleResource },
  'PATCH /v1/apps/:app_name/roles/:role_name': { summary: 'Update a role (including permissions)', tag: 'Roles', status: 200, response: roleResource },
  'DELETE /v1/apps/:app_name/roles/:role_name': {
    summary: 'Delete a role',
    tag: 'Roles',
    status: 200,
    response: roleResource,
    description: 'A role held by users or pending invites is 409 unless `?force=true`.',
  },

  'POST /v1/apps/:app_name/tokens': {
    summary: 'Issue an access token',
    tag: 'Tokens',
    status: 200,
    response: tokenResource,
    description: 'grant_type password, refresh_token or client_credentials; JSON or form-encoded; client secrets also by HTTP Basic.',
    requestExample: TOKEN_EXAMPLE,
  },
  'POST /v1/apps/:app_name/tokens/refresh': {
    summary: 'Refresh an access token',
    tag: 'Tokens',
    status: 200,
    response: tokenResource,
    requestExample: { refresh_token: 'rt_01HQ3KXFG6...' },
  },
  'POST /v1/apps/:app_name/tokens/revoke': {
    summary: 'Revoke a refresh token',
    tag: 'Tokens',
    status: 200,
    response: emptyResource,
    description: 'RFC 7009: 200 whether or not the token was known.',
    requestExample: { refresh_token: 'rt_01HQ3KXFG6...' },
  },
  'POST /v1/authorize': {
    summary: 'Verify token and check permission',
    tag: 'Tokens',
    status: 200,
    response: authorizeResource,
    requestExample: { token: 'eyJhbGciOiJSUzI1NiIs...', permission: 'projects:write', app: 'acme-corp' },
  },
  'GET /v1/apps/:app_name/revocations': {
    summary: 'Revocation feed for edge verifiers',
    tag: 'Tokens',
    status: 200,
    response: revocationFeedResource,
    description: 'Users, credentials and the app whose older tokens must be refused: a token whose `sub_epoch` (`app_epoch`) is below the entry\'s `epoch` (`app_epoch`), or, without those claims, whose `iat` is before `not_before`. Cached 1 s, ETag.',
  },

  'POST /v1/apps/:app_name/credentials': {
    summary: 'Create service credentials',
    tag: 'Service Credentials',
    status: 201,
    response: credentialResource,
    description: 'The client secret is in this answer (and a rotation answer) only.',
    requestExample: { name: 'billing-service', permissions: ['billing:read', 'billing:write'] },
  },
  'GET /v1/apps/:app_name/credentials': { summary: 'List service credentials', tag: 'Service Credentials', status: 200, response: credentials },
  'GET /v1/apps/:app_name/credentials/:credential_id': { summary: 'Get service credentials', tag: 'Service Credentials', status: 200, response: credentialResource },
  'PATCH /v1/apps/:app_name/credentials/:credential_id': {
    summary: 'Update credentials (e.g., rotate secret)',
    tag: 'Service Credentials',
    status: 200,
    response: credentialResource,
    description: '`{"rotate_secret": true}` issues a new secret (shown once); `grace_period_seconds` keeps the old one working meanwhile.',
    requestExample: { rotate_secret: true, grace_period_seconds: 3600 },
  },
  'DELETE /v1/apps/:app_name/credentials/:credential_id': { summary: 'Revoke service credentials', tag: 'Service Credentials', status: 200, response: credentialResource },
  'GET /v1/apps/:app_name/.well-known/oauth-authorization-server': {
    summary: 'OAuth 2.0 authorization server metadata of an app (RFC 8414)',
    tag: 'Tokens',
    status: 200,
    response: authorizationServerResource,
  },
  'POST /v1/apps/:app_name/invites': {
    summary: 'Create an invite',
    tag: 'Invites',
    status: 201,
    response: createdInviteResource,
    requestExample: { email: 'bob@contractor.io', role: 'editor', expires_in_hours: 72, max_uses: 1 },
  },
  'GET /v1/apps/:app_name/invites': { summary: 'List pending invites', tag: 'Invites', status: 200, response: invites },
  'DELETE /v1/apps/:app_name/invites/:invite_id': { summary: 'Revoke an invite', tag: 'Invites', status: 200, response: inviteResource },
  'POST /v1/invites/:invite_token/accept': {
    summary: 'Accept an invite',
    tag: 'Invites',
    status: 201,
    response: userResource,
    description: 'No admin key: the invite token is the credential. 201 with a new user; 200 when an existing user (proving their password) gains the role. Expired, used-up or revoked: 410.',
    requestExample: { password: '...', display_name: 'Bob', email: 'bob@contractor.io' },
  },
  'GET /v1/apps/:app_name/audit-logs': { summary: 'List audit log entries (paginated, filterable)', tag: 'Audit Logs', status: 200, response: auditEntries },
  'GET /v1/apps/:app_name/audit-logs/export': {
    summary: "Export an app's audit log as NDJSON",
    tag: 'Audit Logs',
    status: 200,
    response: auditEntryResource,
    mediaType: 'application/x-ndjson',
    description: 'One entry per line, oldest first; follow the `Link: rel="next"` header (`after` cursor).',
  },
  'GET /v1/apps/:app_name/audit-logs/:log_id': { summary: 'Get a specific audit log entry', tag: 'Audit Logs', status: 200, response: auditEntryResource },
  'GET /v1/audit-logs': { summary: 'List the global audit log (root key)', tag: 'Audit Logs', status: 200, response: auditEntries },
  'GET /v1/audit-logs/export': { summary: 'Export the global audit log as NDJSON (root key)', tag: 'Audit Logs', status: 200, response: auditEntryResource, mediaType: 'application/x-ndjson' },
  'GET /v1/audit-logs/:log_id': { summary: 'Get a global audit log entry (root key)', tag: 'Audit Logs', status: 200, response: auditEntryResource },

  'POST /v1/admin-keys': {
    summary: 'Create a managed admin key (root key)',
    tag: 'Admin Keys',
    status: 201,
    response: createdAdminKeyResource,
    requestExample: { name: 'acme support', apps: ['acme-corp'], read_only: true },
  },
  'GET /v1/admin-keys': { summary: 'List managed admin keys (root key)', tag: 'Admin Keys', status: 200, response: adminKeys },
  'GET /v1/admin-keys/:key_id': { summary: 'Get a managed admin key (root key)', tag: 'Admin Keys', status: 200, response: adminKeyResource },
  'DELETE /v1/admin-keys/:key_id': { summary: 'Revoke a managed admin key (root key)', tag: 'Admin Keys', status: 200, response: adminKeyResource },

  'GET /v1/signing-keys': { summary: 'List signing keys (root key)', tag: 'Signing Keys', status: 200, response: signingKeys },
  'POST /v1/signing-keys/rotate': { summary: 'Rotate the signing key (root key)', tag: 'Signing Keys', status: 200, response: signingKeys },

  'GET /v1/openapi.json': { summary: 'This OpenAPI document', tag: 'Operations', status: 200, response: null, mediaType: 'application/json' },
};
