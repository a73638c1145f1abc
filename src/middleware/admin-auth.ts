/**
 * Admin authentication (docs/resources.md#admin-authentication): `Authorization: Bearer <key>`, the root
 * key from the `HEIMDALL_ROOT_KEY` secret or a managed `hk_...` key. Every
 * failure is the same 401, whatever was wrong.
 *
 * Two middlewares, with the rate limit between them in app.ts
 * (docs/rate-limits.md#groups-and-buckets): `identifyAdmin` finds who is
 * calling, the limit spends that caller's bucket (a valid key its own; no
 * key, a wrong, malformed or revoked one a bucket of the client IP), and
 * `requireAdmin` refuses. Counting only after a successful authentication
 * would let random keys probe without limit; counting against the key the
 * caller claims would let anyone drain a victim's bucket.
 */
import type { MiddlewareHandler } from 'hono';
import { sha256, timingSafeEqual } from '../auth/secrets';
import { database } from '../db/client';
import { rootKey, type Env } from '../env';
import type { AdminPrincipal, AppEnv } from '../lib/context';
import { ApiError } from '../lib/errors';
import { cachedPrincipalOfManagedKey, principalOfManagedKey } from '../services/admin-keys';

export const ROOT_PRINCIPAL: AdminPrincipal = Object.freeze({ id: 'root', apps: null, readOnly: false });

/** The one 401 of admin routes: identical for no key, a wrong key and a revoked key. */
export function unauthorized(): ApiError {
  return new ApiError('UNAUTHORIZED', 'a valid admin key is required', { headers: { 'WWW-Authenticate': 'Bearer' } });
}

/** The bearer value of `Authorization`, exactly `Bearer <token>`; null otherwise. */
export function bearerToken(header: string | undefined): string | null {
  if (!header?.startsWith('Bearer ')) return null;
  const token = header.slice(7);
  return token.length > 0 && token.length <= 512 && !/\s/.test(token) ? token : null;
}

let rootDigest: { key: string; digest: Uint8Array } | undefined;

async function isRootKey(env: Env, presented: string): Promise<boolean> {
  // A missing or trivially short root secret is a deployment mistake: a 500
  // that names it, never a 401 that looks like a wrong key.
  const root = rootKey(env);
  if (rootDigest?.key !== root) rootDigest = { key: root, digest: await sha256(root) };
  // Compare digests, not strings: equal length, constant time, no early exit.
  return timingSafeEqual(await sha256(presented), rootDigest.digest);
}

/** Answers for managed `hk_...` keys: the principal of an active key, else null. */
export type ManagedKeyResolver = (env: Env, key: string) => Promise<AdminPrincipal | null>;

/** Managed keys live in D1 and are looked up on every request, so a revoke takes effect at once. */
export const resolveManagedKeyFromDb: ManagedKeyResolver = (env, key) => principalOfManagedKey(database(env), key);

/** For /v1/authorize, where the key only picks the bucket: cached for 3 s per isolate (no D1 read per call). */
export const resolveManagedKeyCached: ManagedKeyResolver = (env, key) => cachedPrincipalOfManagedKey(database(env), key, Date.now());

/**
 * Resolves a presented admin key to its principal, or null. The seam for
 * managed keys: `resolveManagedKey` answers for `hk_...` keys.
 */
export async function resolveAdminKey(
  env: Env,
  presented: string,
  resolveManagedKey?: ManagedKeyResolver,
): Promise<AdminPrincipal | null> {
  if (await isRootKey(env, presented)) return ROOT_PRINCIPAL;
  if (resolveManagedKey && presented.startsWith('hk_')) return resolveManagedKey(env, presented);
  return null;
}

export interface IdentifyOptions {
  /**
   * The key is optional (`/v1/authorize`, where it only selects the
   * rate-limit bucket): a request without `Authorization` passes with no
   * `c.var.admin`. A key that is sent must still be valid.
   */
  optional?: boolean;
  /** Managed-key lookup; defaults to D1 (on `/v1/authorize`, cached for 3 s). */
  resolveManagedKey?: ManagedKeyResolver;
}

/**
 * First of three steps, composed in app.ts (identify → limit → require):
 * resolves the presented key to its principal, or null, into
 * `c.var.caller`. It never refuses by itself, so that the rate limit counts
 * every request, even one with a bad key or one whose key lookup failed.
 */
export function identifyAdmin(options: IdentifyOptions = {}): MiddlewareHandler<AppEnv> {
  const optional = options.optional ?? false;
  const resolveManagedKey = options.resolveManagedKey ?? (optional ? resolveManagedKeyCached : resolveManagedKeyFromDb);
  return async function identifyAdmin(c, next) {
    const header = c.req.header('Authorization');
    // Checked before anything else, so every admin route answers the same 500
    // to a deployment without its root key, whatever key is presented.
    if (!(optional && header === undefined)) rootKey(c.env);
    const presented = bearerToken(header);
    try {
      c.set('caller', { principal: presented ? await resolveAdminKey(c.env, presented, resolveManagedKey) : null });
    } catch (err) {
      // Storage failed: nobody is identified. The limit still counts the request.
      c.set('caller', { principal: null, failure: err });
    }
    await next();
  };
}

/**
 * Last step: the request goes on only with a valid admin key (or, where the
 * key is optional, with none at all), and sets `c.var.admin`. Every failure
 * is the same 401; a failed lookup is its 503.
 */
export function requireAdmin(options: { optional?: boolean } = {}): MiddlewareHandler<AppEnv> {
  const optional = options.optional ?? false;
  return async function requireAdmin(c, next) {
    const caller = c.get('caller');
    if (caller.failure !== undefined) throw caller.failure;
    if (caller.principal) c.set('admin', caller.principal);
    else if (!(optional && c.req.header('Authorization') === undefined)) throw unauthorized();
    await next();
  };
}
