/**
 * Hono middleware over `createHeimdallVerifier`: `heimdallAuth` verifies the
 * bearer token and sets the claims on the context; `requirePermission`
 * checks them with the very matcher Heimdall uses server-side.
 *
 * ```ts
 * app.use('/api/*', heimdallAuth({ issuer: 'https://api.productcraft.co/heimdall', app: 'acme-corp' }));
 * app.post('/api/projects', requirePermission('projects:write'), (c) => c.json(c.get('heimdall')));
 * ```
 *
 * Refusals use Heimdall's error shape: 401 `INVALID_TOKEN` with
 * `WWW-Authenticate: Bearer error="invalid_token"`, 403 `FORBIDDEN`.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { isPermission, isPermittedAll } from '../auth/permissions';
import { HeimdallTokenError, createHeimdallVerifier, type HeimdallClaims, type HeimdallVerifierOptions } from './verify';

export type HeimdallVariables = { heimdall: HeimdallClaims };

export interface HeimdallAuthOptions extends HeimdallVerifierOptions {
  /** Where the token is; default the `Authorization: Bearer` header. */
  token?: (c: Context) => string | null | undefined;
}

function refuse(c: Context, status: 401 | 403, code: string, message: string): Response {
  const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
  if (status === 401) headers['WWW-Authenticate'] = 'Bearer error="invalid_token"';
  return c.json({ error: { code, message } }, status, headers);
}

function bearer(c: Context): string | null {
  const header = c.req.header('Authorization');
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : null;
}

/** Verifies the request's token (RS256, issuer, audience, type, expiry, revocations) and sets `c.get('heimdall')`. */
export function heimdallAuth(options: HeimdallAuthOptions): MiddlewareHandler<{ Variables: HeimdallVariables }> {
  const verifier = createHeimdallVerifier(options);
  const tokenOf = options.token ?? bearer;
  return async function heimdallAuth(c, next) {
    const token = tokenOf(c);
    if (!token) return refuse(c, 401, 'INVALID_TOKEN', 'a bearer token is required');
    try {
      c.set('heimdall', await verifier.verify(token));
    } catch (err) {
      if (err instanceof HeimdallTokenError) return refuse(c, 401, 'INVALID_TOKEN', 'the token is invalid, expired or revoked');
      throw err;
    }
    await next();
  };
}

/** Requires every listed permission (wildcards honoured as on the server). Use after `heimdallAuth`. */
export function requirePermission(...permissions: string[]): MiddlewareHandler<{ Variables: HeimdallVariables }> {
  if (permissions.length === 0) throw new TypeError('heimdall: requirePermission needs at least one permission');
  for (const p of permissions) if (!isPermission(p)) throw new TypeError(`heimdall: ${p} is not a permission (resource:action)`);
  return async function requirePermission(c, next) {
    const claims = c.get('heimdall');
    if (!claims) return refuse(c, 401, 'INVALID_TOKEN', 'a bearer token is required');
    if (!isPermittedAll(claims.permissions, permissions)) return refuse(c, 403, 'FORBIDDEN', 'missing permission');
    await next();
  };
}
