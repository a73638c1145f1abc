/**
 * The shapes of every answer, as zod schemas: the single source of the
 * response types (each `render*` function is typed by the schema it
 * answers) and of the OpenAPI document's components.
 */
import { z } from 'zod';
import { ERROR_STATUS } from '../lib/errors';
import { AUDIT_ACTIONS, AUDIT_TARGET_TYPES } from '../services/audit';

const timestamp = z.string().meta({ format: 'date-time', example: '2026-02-20T10:00:00Z' });
const metadata = z.record(z.string(), z.unknown());

export const errorResource = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_STATUS) as [keyof typeof ERROR_STATUS, ...(keyof typeof ERROR_STATUS)[]]),
      message: z.string(),
      details: z.array(z.object({ field: z.string(), reason: z.string() })).optional(),
    }),
  })
  .meta({ id: 'Error', example: { error: { code: 'VALIDATION_ERROR', message: 'email is required', details: [{ field: 'email', reason: 'required' }] } } });

export const paginationResource = z
  .object({ total: z.number().int(), limit: z.number().int(), offset: z.number().int(), has_more: z.boolean() })
  .meta({ id: 'Pagination' });

export const appResource = z
  .object({
    id: z.string(),
    name: z.string(),
    display_name: z.string().nullable(),
    status: z.enum(['active', 'archived']),
    metadata,
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({
    id: 'App',
    example: {
      id: 'app_01HQ3KXFG6...',
      name: 'acme-corp',
      display_name: 'Acme Corporation',
      status: 'active',
      metadata: { plan: 'growth', region: 'us-east-1' },
      created_at: '2026-02-20T10:00:00Z',
      updated_at: '2026-02-20T10:00:00Z',
    },
  });

export const userResource = z
  .object({
    id: z.string(),
    app_id: z.string(),
    email: z.string(),
    display_name: z.string().nullable(),
    roles: z.array(z.string()),
    status: z.enum(['active', 'deactivated']),
    metadata,
    created_at: timestamp,
  })
  .meta({
    id: 'User',
    example: {
      id: 'usr_01HQ3KXFG6...',
      app_id: 'app_01HQ3KXFG6...',
      email: 'jane@acme.co',
      display_name: 'Jane Chen',
      roles: ['admin'],
      status: 'active',
      metadata: { department: 'engineering' },
      created_at: '2026-02-20T10:02:00Z',
    },
  });

export const roleResource = z
  .object({
    id: z.string(),
    app_id: z.string(),
    name: z.string(),
    display_name: z.string().nullable(),
    permissions: z.array(z.string()),
    created_at: timestamp,
  })
  .meta({
    id: 'Role',
    example: {
      id: 'role_01HQ3KXFG6...',
      app_id: 'app_01HQ3KXFG6...',
      name: 'editor',
      display_name: 'Editor',
      permissions: ['projects:read', 'projects:write', 'comments:read', 'comments:write'],
      created_at: '2026-02-20T10:01:00Z',
    },
  });

export const credentialResource = z
  .object({
    id: z.string(),
    app_id: z.string(),
    name: z.string(),
    client_id: z.string(),
    client_secret: z.string().optional().meta({ description: 'Only in the create and rotate answers.' }),
    permissions: z.array(z.string()),
    created_at: timestamp,
    status: z.enum(['active', 'revoked']),
    secret_last4: z.string(),
    updated_at: timestamp,
    rotated_at: timestamp.nullable(),
    previous_secret_expires_at: timestamp.nullable(),
    revoked_at: timestamp.nullable(),
  })
  .meta({
    id: 'Credential',
    example: {
      id: 'cred_01HQ3KXFG6...',
      app_id: 'app_01HQ3KXFG6...',
      name: 'billing-service',
      client_id: 'svc_01HQ3...',
      client_secret: 'sk_live_01HQ3...',
      permissions: ['billing:read', 'billing:write'],
      created_at: '2026-02-20T10:05:00Z',
      status: 'active',
      secret_last4: 'Q3X9',
      updated_at: '2026-02-20T10:05:00Z',
      rotated_at: null,
      previous_secret_expires_at: null,
      revoked_at: null,
    },
  });

export const authorizationServerResource = z
  .object({
    issuer: z.string(),
    token_endpoint: z.string(),
    jwks_uri: z.string(),
    revocation_endpoint: z.string(),
    grant_types_supported: z.array(z.string()),
    response_types_supported: z.array(z.string()),
    token_endpoint_auth_methods_supported: z.array(z.string()),
    revocation_endpoint_auth_methods_supported: z.array(z.string()),
  })
  .meta({ id: 'AuthorizationServerMetadata' });

export const inviteResource = z
  .object({
    id: z.string(),
    app_id: z.string(),
    email: z.string().nullable(),
    role: z.string().nullable(),
    expires_at: timestamp,
    max_uses: z.number().int(),
    uses: z.number().int(),
    created_at: timestamp,
    status: z.enum(['pending', 'used_up', 'expired', 'revoked']),
  })
  .meta({ id: 'Invite' });

export const createdInviteResource = z
  .object({
    id: z.string(),
    app_id: z.string(),
    email: z.string().nullable(),
    role: z.string().nullable(),
    token: z.string().meta({ description: 'The invite token (inv_tok_...). Shown in this answer only.' }),
    invite_url: z.string(),
    expires_at: timestamp,
    max_uses: z.number().int(),
    uses: z.number().int(),
    created_at: timestamp,
    status: z.enum(['pending', 'used_up', 'expired', 'revoked']),
  })
  .meta({
    id: 'CreatedInvite',
    example: {
      id: 'inv_01HQ3KXFG6...',
      app_id: 'app_01HQ3KXFG6...',
      email: 'bob@contractor.io',
      role: 'editor',
      token: 'inv_tok_01HQ3...',
      invite_url: 'https://api.productcraft.co/heimdall/v1/invites/inv_tok_01HQ3.../accept',
      expires_at: '2026-02-23T10:00:00Z',
      max_uses: 1,
      uses: 0,
      created_at: '2026-02-20T10:10:00Z',
      status: 'pending',
    },
  });

export const adminKeyResource = z
  .object({
    id: z.string(),
    name: z.string(),
    apps: z.array(z.string()).nullable(),
    read_only: z.boolean(),
    status: z.enum(['active', 'revoked']),
    created_at: timestamp,
    revoked_at: timestamp.nullable(),
  })
  .meta({ id: 'AdminKey' });

export const createdAdminKeyResource = adminKeyResource
  .extend({ key: z.string().meta({ description: 'The key (hk_...). Shown in this answer only.' }) })
  .meta({ id: 'CreatedAdminKey' });

export const signingKeyResource = z
  .object({
    kid: z.string(),
    status: z.enum(['next', 'active', 'retired']),
    alg: z.literal('RS256'),
    created_at: timestamp,
    activated_at: timestamp.nullable(),
    retired_at: timestamp.nullable(),
    expires_at: timestamp.nullable(),
  })
  .meta({ id: 'SigningKey' });

export const auditEntryResource = z
  .object({
    id: z.string(),
    app_id: z.string().nullable(),
    actor_id: z.string().nullable(),
    action: z.enum(AUDIT_ACTIONS),
    target_type: z.enum(AUDIT_TARGET_TYPES),
    target_id: z.string().nullable(),
    metadata,
    ip_address: z.string().nullable(),
    timestamp,
    user_agent: z.string().nullable(),
    request_id: z.string().nullable(),
  })
  .meta({
    id: 'AuditEntry',
    example: {
      id: 'aud_01HQ3KXFG6...',
      app_id: 'app_01HQ3KXFG6...',
      actor_id: 'usr_01HQ3...',
      action: 'role.assigned',
      target_type: 'user',
      target_id: 'usr_01HQ4...',
      metadata: { role: 'editor' },
      ip_address: '203.0.113.42',
      timestamp: '2026-02-20T10:15:00Z',
      user_agent: 'curl/8.5.0',
      request_id: 'req_01HQ3...',
    },
  });

export const tokenResource = z
  .object({
    access_token: z.string(),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int(),
    refresh_token: z.string().optional(),
  })
  .meta({
    id: 'TokenResponse',
    example: { access_token: 'eyJhbGciOiJSUzI1NiIs...', token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt_01HQ3KXFG6...' },
  });

export const authorizeResource = z
  .object({
    allowed: z.boolean(),
    reason: z.enum(['permission_denied', 'app_mismatch']).optional(),
    app: z.string(),
    app_id: z.string(),
    subject: z.string(),
    subject_type: z.enum(['user', 'service']),
    roles: z.array(z.string()),
    permissions: z.array(z.string()),
    expires_at: timestamp,
  })
  .meta({ id: 'AuthorizeAnswer' });

export const jwksResource = z
  .object({
    keys: z.array(z.object({ kty: z.literal('RSA'), n: z.string(), e: z.string(), kid: z.string(), alg: z.literal('RS256'), use: z.literal('sig') })),
  })
  .meta({ id: 'JWKS' });

export const revocationFeedResource = z
  .object({
    app: z.string(),
    app_id: z.string(),
    app_not_before: z.number().int().nullable(),
    app_epoch: z.number().int(),
    window_seconds: z.number().int(),
    revocations: z.array(z.object({
      type: z.enum(['user', 'credential']),
      id: z.string(),
      not_before: z.number().int(),
      epoch: z.number().int().optional(),
    })),
  })
  .meta({ id: 'RevocationFeed' });

export const healthResource = z.object({ status: z.literal('ok') }).meta({ id: 'Health' });
export const emptyResource = z.object({}).meta({ id: 'Empty' });

/** `{data, pagination}` of a list of `item`. */
export function listOf(item: z.ZodType, id: string) {
  return z.object({ data: z.array(item), pagination: paginationResource }).meta({ id });
}

export type AppResource = z.infer<typeof appResource>;
export type UserResource = z.infer<typeof userResource>;
export type RoleResource = z.infer<typeof roleResource>;
export type CredentialResource = z.infer<typeof credentialResource>;
export type InviteResource = z.infer<typeof inviteResource>;
export type AdminKeyResource = z.infer<typeof adminKeyResource>;
export type SigningKeyResource = z.infer<typeof signingKeyResource>;
export type AuditEntryResource = z.infer<typeof auditEntryResource>;
