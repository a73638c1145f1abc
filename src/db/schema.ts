/**
 * The whole D1 schema, one module, the single source for `drizzle-kit
 * generate`. Every tenant-owned row carries `app_id`; uniqueness rules of the
 * project (docs/resources.md#uniqueness) are unique indexes (never application pre-checks), and every list
 * filter has an index that starts with `app_id`.
 *
 * Times are integer milliseconds since the epoch; the API renders them as
 * ISO 8601 at second precision. JSON columns hold serialised objects.
 *
 * Composite foreign keys `(app_id, x_id)` make cross-tenant links impossible
 * in the database itself: a role of app B can never be assigned to a user of
 * app A, even through a bug in a query.
 */
import { sql } from 'drizzle-orm';
import {
  check,
  foreignKey,
  index,
  integer,
  primaryKey,
  sqliteTable,
  text,
  uniqueIndex,
} from 'drizzle-orm/sqlite-core';

const createdAt = () => integer('created_at').notNull();
const updatedAt = () => integer('updated_at').notNull();

export const apps = sqliteTable(
  'apps',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    displayName: text('display_name'),
    status: text('status', { enum: ['active', 'archived'] }).notNull().default('active'),
    metadata: text('metadata').notNull().default('{}'),
    /** Bumped in the same batch as every change that alters an authorize answer. */
    authzVersion: integer('authz_version').notNull().default(0),
    /** Tokens (access and refresh) issued before this instant are dead (archive). */
    tokensInvalidBefore: integer('tokens_invalid_before'),
    /** Counts the app's cut-offs; a token carries the value it was issued under (README.md#revocation-cut-offs). */
    tokenEpoch: integer('token_epoch').notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    archivedAt: integer('archived_at'),
  },
  (t) => [
    // Names are unique for ever: archived apps keep theirs.
    uniqueIndex('apps_name_uq').on(t.name),
    index('apps_status_created_idx').on(t.status, t.createdAt, t.id),
    index('apps_created_idx').on(t.createdAt, t.id),
  ],
);

export const users = sqliteTable(
  'users',
  {
    id: text('id').primaryKey(),
    appId: text('app_id').notNull().references(() => apps.id),
    /** Trimmed and lower-cased; login and filters normalise the same way. */
    email: text('email').notNull(),
    displayName: text('display_name'),
    /** Self-describing hash string (algorithm, parameters, salt); null for invited or imported users. */
    passwordHash: text('password_hash'),
    status: text('status', { enum: ['active', 'deactivated'] }).notNull().default('active'),
    metadata: text('metadata').notNull().default('{}'),
    /** Tokens issued before this instant are dead (deactivation, password change). */
    tokensInvalidBefore: integer('tokens_invalid_before'),
    /** Counts the user's cut-offs; a token carries the value it was issued under (README.md#revocation-cut-offs). */
    tokenEpoch: integer('token_epoch').notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    deactivatedAt: integer('deactivated_at'),
  },
  (t) => [
    uniqueIndex('users_app_email_uq').on(t.appId, t.email),
    // Target of the composite foreign keys that pin assignments to one tenant.
    uniqueIndex('users_app_id_uq').on(t.appId, t.id),
    index('users_app_created_idx').on(t.appId, t.createdAt, t.id),
    index('users_app_status_created_idx').on(t.appId, t.status, t.createdAt, t.id),
    index('users_app_invalid_before_idx').on(t.appId, t.tokensInvalidBefore),
  ],
);

export const roles = sqliteTable(
  'roles',
  {
    id: text('id').primaryKey(),
    appId: text('app_id').notNull().references(() => apps.id),
    name: text('name').notNull(),
    displayName: text('display_name'),
    /** JSON array of permission strings (`resource:action`, `resource:*`, `*`). */
    permissions: text('permissions').notNull().default('[]'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('roles_app_name_uq').on(t.appId, t.name),
    uniqueIndex('roles_app_id_uq').on(t.appId, t.id),
    index('roles_app_created_idx').on(t.appId, t.createdAt, t.id),
  ],
);

export const userRoles = sqliteTable(
  'user_roles',
  {
    appId: text('app_id').notNull(),
    userId: text('user_id').notNull(),
    roleId: text('role_id').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.userId, t.roleId] }),
    foreignKey({ columns: [t.appId, t.userId], foreignColumns: [users.appId, users.id] }),
    foreignKey({ columns: [t.appId, t.roleId], foreignColumns: [roles.appId, roles.id] }),
    // The users `role` filter and the "role still in use" check.
    index('user_roles_app_role_idx').on(t.appId, t.roleId, t.userId),
  ],
);

export const credentials = sqliteTable(
  'credentials',
  {
    id: text('id').primaryKey(),
    appId: text('app_id').notNull().references(() => apps.id),
    name: text('name').notNull(),
    clientId: text('client_id').notNull(),
    /** SHA-256 of the client secret (hex); the secret itself is never stored. */
    secretHash: text('secret_hash').notNull(),
    secretLast4: text('secret_last4').notNull(),
    /** The replaced secret's hash, accepted until `previous_secret_expires_at` (rotation grace). */
    previousSecretHash: text('previous_secret_hash'),
    previousSecretExpiresAt: integer('previous_secret_expires_at'),
    permissions: text('permissions').notNull().default('[]'),
    status: text('status', { enum: ['active', 'revoked'] }).notNull().default('active'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    rotatedAt: integer('rotated_at'),
    revokedAt: integer('revoked_at'),
  },
  (t) => [
    uniqueIndex('credentials_client_id_uq').on(t.clientId),
    index('credentials_app_created_idx').on(t.appId, t.createdAt, t.id),
    index('credentials_app_revoked_idx').on(t.appId, t.revokedAt),
  ],
);

export const invites = sqliteTable(
  'invites',
  {
    id: text('id').primaryKey(),
    appId: text('app_id').notNull().references(() => apps.id),
    email: text('email'),
    /**
     * No foreign key: used and revoked invites outlive a deleted role. A forced
     * role delete revokes the pending invites of that role in its batch, and an
     * accept re-reads the role in the app (a missing role is a 409).
     */
    roleId: text('role_id').notNull(),
    /** SHA-256 of the invite token (hex); the token itself is never stored. */
    tokenHash: text('token_hash').notNull(),
    expiresAt: integer('expires_at').notNull(),
    maxUses: integer('max_uses').notNull(),
    uses: integer('uses').notNull().default(0),
    status: text('status', { enum: ['active', 'revoked'] }).notNull().default('active'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    revokedAt: integer('revoked_at'),
  },
  (t) => [
    uniqueIndex('invites_token_hash_uq').on(t.tokenHash),
    index('invites_app_pending_idx').on(t.appId, t.status, t.expiresAt),
    index('invites_app_created_idx').on(t.appId, t.createdAt, t.id),
    index('invites_app_role_idx').on(t.appId, t.roleId, t.status),
  ],
);

export const adminKeys = sqliteTable(
  'admin_keys',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    /** SHA-256 of the key (hex). Lookup is by this digest, so the key is never stored. */
    keyHash: text('key_hash').notNull(),
    /** JSON array of app names the key may act on, or null for every app. */
    apps: text('apps'),
    readOnly: integer('read_only', { mode: 'boolean' }).notNull().default(false),
    status: text('status', { enum: ['active', 'revoked'] }).notNull().default('active'),
    createdAt: createdAt(),
    revokedAt: integer('revoked_at'),
  },
  (t) => [
    uniqueIndex('admin_keys_key_hash_uq').on(t.keyHash),
    index('admin_keys_created_idx').on(t.createdAt, t.id),
  ],
);

export const signingKeys = sqliteTable(
  'signing_keys',
  {
    kid: text('kid').primaryKey(),
    status: text('status', { enum: ['next', 'active', 'retired'] }).notNull(),
    /** Public JWK (kty, n, e, kid, alg, use) as JSON. */
    publicJwk: text('public_jwk').notNull(),
    /**
     * Private JWK, AES-256-GCM encrypted under a key derived from the
     * `HEIMDALL_KEY_ENCRYPTION_KEY` secret, with the kid as associated data. A
     * dump of D1 alone cannot sign a token.
     */
    privateJwkSealed: text('private_jwk_sealed').notNull(),
    createdAt: createdAt(),
    activatedAt: integer('activated_at'),
    retiredAt: integer('retired_at'),
    /** When a retired key leaves the JWKS: after every token it signed has expired. */
    expiresAt: integer('expires_at'),
  },
  (t) => [
    // At most one `next` and one `active` key, even when two isolates bootstrap at once.
    uniqueIndex('signing_keys_live_status_uq')
      .on(t.status)
      .where(sql`status IN ('next', 'active')`),
  ],
);

export const auditLogs = sqliteTable(
  'audit_logs',
  {
    id: text('id').primaryKey(),
    /** Null for events that belong to no app (admin keys, signing keys): the global log. */
    appId: text('app_id'),
    actorId: text('actor_id'),
    action: text('action').notNull(),
    targetType: text('target_type').notNull(),
    targetId: text('target_id'),
    metadata: text('metadata').notNull().default('{}'),
    ipAddress: text('ip_address'),
    userAgent: text('user_agent'),
    requestId: text('request_id'),
    timestamp: integer('timestamp').notNull(),
  },
  (t) => [
    // No foreign keys on purpose: nothing may cascade into the log.
    index('audit_app_ts_idx').on(t.appId, t.timestamp, t.id),
    index('audit_app_action_ts_idx').on(t.appId, t.action, t.timestamp, t.id),
    index('audit_app_actor_ts_idx').on(t.appId, t.actorId, t.timestamp, t.id),
    index('audit_app_target_type_ts_idx').on(t.appId, t.targetType, t.timestamp, t.id),
    index('audit_app_target_id_ts_idx').on(t.appId, t.targetId, t.timestamp, t.id),
    // The export walks a log in append order. SQLite ends every index entry
    // with the rowid, so this is (app_id, rowid): a range scan from the cursor.
    index('audit_app_seq_idx').on(t.appId),
  ],
);

/**
 * Never holds a row. A batch starts with `guard(...)` statements that try to
 * insert `failed = 1` when a precondition does not hold; the CHECK refuses it
 * and D1 rolls the whole batch back. This is the atomic check-then-act that
 * D1's lack of interactive transactions otherwise makes impossible.
 */
export const batchGuards = sqliteTable(
  'batch_guards',
  { failed: integer('failed').notNull() },
  (t) => [check('batch_guard', sql`${t.failed} = 0`)],
);

export type AppRow = typeof apps.$inferSelect;
export type UserRow = typeof users.$inferSelect;
export type RoleRow = typeof roles.$inferSelect;
export type CredentialRow = typeof credentials.$inferSelect;
export type InviteRow = typeof invites.$inferSelect;
export type AdminKeyRow = typeof adminKeys.$inferSelect;
export type SigningKeyRow = typeof signingKeys.$inferSelect;
export type AuditLogRow = typeof auditLogs.$inferSelect;
