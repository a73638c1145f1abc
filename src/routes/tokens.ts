/**
 * Token endpoints (reference "Tokens", docs/tokens.md#token-endpoints): public, no admin key.
 * They take JSON or form-encoded bodies (RFC 6749 §4.3.2, §4.4.2) and, as
 * RFC 6749 §3.2 requires, ignore unknown parameters and refuse repeated ones.
 * Service credentials authenticate in the body or with HTTP Basic (§2.3.1).
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { type ClientAuthMethod, parseBasicAuthorization } from '../auth/client-authentication';
import { PASSWORD_RAW_MAX } from '../auth/passwords';
import { database } from '../db/client';
import { clientIp, userAgent, type AppEnv } from '../lib/context';
import { ApiError } from '../lib/errors';
import { issuer } from '../lib/public-base';
import { parseJsonText, validate } from '../lib/validation';
import { requireApp } from '../services/apps';
import { type PresentedClient, clientCredentialsGrant } from '../services/client-credentials';
import { passwordGrant, refreshGrant, revokeRefreshToken, type GrantContext } from '../services/tokens';

const FORM = /^application\/x-www-form-urlencoded\s*(;.*)?$/i;
const JSON_TYPE = /^application\/json\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

/** Parameters that are secrets: never taken from the URL, which ends up in logs (RFC 6749 §2.3.1). */
const SECRET_PARAMS = ['client_secret', 'password', 'refresh_token', 'token'] as const;

/** The body's parameters, from JSON or a form; repeated form parameters and secrets in the query are refused. */
export async function readTokenParams(c: Context<AppEnv>): Promise<Record<string, unknown>> {
  const inQuery = SECRET_PARAMS.filter((name) => c.req.query(name) !== undefined);
  if (inQuery.length > 0) {
    throw new ApiError('VALIDATION_ERROR', `${inQuery[0]} must be sent in the body, not in the URL`, {
      details: inQuery.map((field) => ({ field, reason: 'not_allowed_in_query' })),
    });
  }
  const type = (c.req.header('Content-Type') ?? '').trim();
  const text = await c.req.text();
  if (JSON_TYPE.test(type)) {
    const value = parseJsonText(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new ApiError('VALIDATION_ERROR', 'the body must be a JSON object', { details: [{ field: 'body', reason: 'invalid_type' }] });
    }
    return value as Record<string, unknown>;
  }
  if (FORM.test(type)) {
    // No prototype: every name, `__proto__` included, is an own key, so a repeated one is seen as repeated.
    const params: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const [key, value] of new URLSearchParams(text)) {
      if (Object.hasOwn(params, key)) {
        throw new ApiError('VALIDATION_ERROR', `${key} appears more than once`, { details: [{ field: key, reason: 'duplicate_field' }] });
      }
      params[key] = value;
    }
    return params;
  }
  throw new ApiError('VALIDATION_ERROR', 'Content-Type must be application/json or application/x-www-form-urlencoded', {
    details: [{ field: 'Content-Type', reason: 'unsupported_media_type' }],
  });
}

const opaqueToken = z.string().min(1).max(512);

const passwordGrantParams = z.object({
  grant_type: z.literal('password'),
  // `username` is the RFC 6749 name; `email` is the reference's.
  email: z.string().min(1).max(320).optional(),
  username: z.string().min(1).max(320).optional(),
  password: z.string().min(1).max(PASSWORD_RAW_MAX),
}).refine((p) => p.email !== undefined || p.username !== undefined, { path: ['email'], params: { reason: 'required' }, message: 'is required' });

const refreshParams = z.object({ refresh_token: opaqueToken });
const revokeParams = z.object({ refresh_token: opaqueToken.optional(), token: opaqueToken.optional(), token_type_hint: z.string().max(64).optional() })
  .refine((p) => p.refresh_token !== undefined || p.token !== undefined, { path: ['refresh_token'], params: { reason: 'required' }, message: 'is required' });

const clientIdParam = z.string().min(1).max(256);
const clientSecretParam = z.string().min(1).max(256);
/** Basic carries the secret; a body `client_id` may come along, and must then be Basic's. */
const clientCredentialsParams = z.object({ client_id: clientIdParam.optional(), client_secret: clientSecretParam.optional() });
const clientSecretPostParams = z.object({ client_id: clientIdParam, client_secret: clientSecretParam });

export const GRANT_TYPES = ['password', 'refresh_token', 'client_credentials'] as const;

/**
 * How the client authenticated: HTTP Basic or `client_secret` in the body,
 * exactly one of them (RFC 6749 §2.3). Two methods, or a body `client_id`
 * other than Basic's, is a malformed request (400); a Basic header that
 * cannot be decoded is a failed authentication (401, answered by the grant).
 */
function presentedClient(c: Context<AppEnv>, params: Record<string, unknown>): PresentedClient {
  const basic = parseBasicAuthorization(c.req.header('Authorization'));
  if (basic.kind === 'absent') {
    const p = validate(clientSecretPostParams, params);
    return { method: 'client_secret_post', credentials: { clientId: p.client_id, clientSecret: p.client_secret } };
  }
  const method: ClientAuthMethod = 'client_secret_basic';
  const p = validate(clientCredentialsParams, params);
  if (p.client_secret !== undefined) {
    throw new ApiError('VALIDATION_ERROR', 'authenticate the client with HTTP Basic or with client_secret in the body, not both', {
      details: [{ field: 'client_secret', reason: 'multiple_client_authentication' }],
    });
  }
  if (basic.kind === 'malformed') return { method, credentials: null };
  if (p.client_id !== undefined && p.client_id !== basic.clientId) {
    throw new ApiError('VALIDATION_ERROR', 'client_id differs from the client id of the Authorization header', {
      details: [{ field: 'client_id', reason: 'client_id_mismatch' }],
    });
  }
  return { method, credentials: { clientId: basic.clientId, clientSecret: basic.clientSecret } };
}

function grantContext(c: Context<AppEnv>): GrantContext {
  return {
    env: c.env,
    db: database(c.env),
    actor: { id: null, ip: c.req.header('CF-Connecting-IP') ? clientIp(c) : null, userAgent: userAgent(c), requestId: c.var.requestId },
    issuer: issuer(c),
    now: Date.now(),
    waitUntil: (p) => c.executionCtx.waitUntil(p),
  };
}

export const tokensRoutes = new Hono<AppEnv>()
  .post('/', async (c) => {
    const params = await readTokenParams(c);
    const ctx = grantContext(c);
    const appName = c.req.param('app_name')!;
    if (params.grant_type === 'client_credentials') {
      let client: PresentedClient;
      try {
        client = presentedClient(c, params);
      } catch (err) {
        await requireApp(ctx.db, appName); // an unknown app is a 404 before any 400, as for every grant
        throw err;
      }
      // The grant reads the app and the credential in one query.
      return c.json(await clientCredentialsGrant(ctx, appName, client));
    }
    const app = await requireApp(ctx.db, appName);
    switch (params.grant_type) {
      case 'password': {
        const p = validate(passwordGrantParams, params);
        return c.json(await passwordGrant(ctx, app, { email: (p.email ?? p.username)!, password: p.password }));
      }
      case 'refresh_token':
        return c.json(await refreshGrant(ctx, app, validate(refreshParams, params).refresh_token));
      case undefined:
        throw new ApiError('VALIDATION_ERROR', 'grant_type is required', { details: [{ field: 'grant_type', reason: 'required' }] });
      default:
        throw new ApiError('VALIDATION_ERROR', `grant_type must be one of ${GRANT_TYPES.join(', ')}`, {
          details: [{ field: 'grant_type', reason: 'unsupported_grant_type' }],
        });
    }
  })
  .post('/refresh', async (c) => {
    const params = validate(refreshParams, await readTokenParams(c));
    const ctx = grantContext(c);
    const app = await requireApp(ctx.db, c.req.param('app_name')!);
    return c.json(await refreshGrant(ctx, app, params.refresh_token));
  })
  .post('/revoke', async (c) => {
    const params = validate(revokeParams, await readTokenParams(c));
    const ctx = grantContext(c);
    const app = await requireApp(ctx.db, c.req.param('app_name')!);
    // Revocation still works on an archived app (docs/resources.md#archiving-an-app), and says nothing about the token.
    await revokeRefreshToken(ctx, app, (params.refresh_token ?? params.token)!);
    return c.json({});
  });
