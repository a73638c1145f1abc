/**
 * Admin authentication (CONTRACT §3): `Authorization: Bearer <key>`, the root
 * key from the `HEIMDALL_ROOT_KEY` secret or a managed `hk_...` key. Every
 * failure is the same 401, whatever was wrong.
 */
import type { MiddlewareHandler } from 'hono';
import { sha256, timingSafeEqual } from '../auth/secrets';
import type { Env } from '../env';
import type { AdminPrincipal, AppEnv } from '../lib/context';
import { ApiError } from '../lib/errors';

export const ROOT_PRINCIPAL: AdminPrincipal = Object.freeze({ id: 'root', apps: null, readOnly: false });

/** The one 401 of admin routes: identical for no key, a wrong key and a revoked key. */
export function unauthorized(): ApiError {
  return new ApiError('UNAUTHORIZED', 'a valid admin key is required', { headers: { 'WWW-Authenticate': 'Bearer' } });
}

/** The bearer value of `Authorization`, exactly `Bearer <token>`; null otherwise. */
export function bearerToken(header: string | undefined): string | null {
  if (!header || !header.startsWith('Bearer ')) return null;
  const token = header.slice(7);
  return token.length > 0 && token.length <= 512 && !/\s/.test(token) ? token : null;
}

let rootDigest: { key: string; digest: Uint8Array } | undefined;

async function isRootKey(env: Env, presented: string): Promise<boolean> {
  const root = env.HEIMDALL_ROOT_KEY;
  // A missing or trivially short root secret never authenticates anyone.
  if (!root || root.length < 16) return false;
  if (rootDigest?.key !== root) rootDigest = { key: root, digest: await sha256(root) };
  // Compare digests, not strings: equal length, constant time, no early exit.
  return timingSafeEqual(await sha256(presented), rootDigest.digest);
}

/**
 * Resolves a presented admin key to its principal, or null. The seam for
 * managed keys: `resolveManagedKey` answers for `hk_...` keys.
 */
export async function resolveAdminKey(
  env: Env,
  presented: string,
  resolveManagedKey?: (env: Env, key: string) => Promise<AdminPrincipal | null>,
): Promise<AdminPrincipal | null> {
  if (await isRootKey(env, presented)) return ROOT_PRINCIPAL;
  if (resolveManagedKey && presented.startsWith('hk_')) return resolveManagedKey(env, presented);
  return null;
}

/** Requires a valid admin key and sets `c.var.admin`. */
export function adminAuth(): MiddlewareHandler<AppEnv> {
  return async function adminAuth(c, next) {
    const presented = bearerToken(c.req.header('Authorization'));
    const principal = presented ? await resolveAdminKey(c.env, presented) : null;
    if (!principal) throw unauthorized();
    c.set('admin', principal);
    await next();
  };
}
