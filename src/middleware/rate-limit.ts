/**
 * Rate limiting of a request (docs/rate-limits.md#leases): one unit of one bucket, spent
 * from this isolate's lease or, when that is empty, from the bucket's
 * Durable Object (at most one DO call per request).
 *
 * The outcome is stored in `c.var.rateLimitHeaders` before anything can
 * fail, and the outermost middleware copies it onto whatever answer the
 * request ends with: 2xx, every 4xx the route or `onError` renders, 429 and
 * 5xx alike. Register rate limits (and admin authentication, which applies
 * one) before the body limit, so a 413 carries the headers too.
 *
 * Failure policy: if the limiter cannot answer (the DO throws, is
 * unreachable, or the binding is missing), the request is refused with 503
 * UNAVAILABLE, for every group. A limiter that fails open would turn an
 * outage into unlimited password guessing and key probing.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { config, type Env } from '../env';
import { clientIp, type AppEnv } from '../lib/context';
import { ApiError, unavailable } from '../lib/errors';
import { inviteBucket, ipBucket, keyBucket, tokenBucket, type RateLimitGroup } from '../rate-limit/buckets';
import { LeaseCache, type Admission } from '../rate-limit/lease-cache';
import { windowAt, type RateLimitRule } from '../rate-limit/policy';

/**
 * One lease cache per limiter namespace: leases granted by one set of
 * Durable Objects are never spent against another (tests bind several).
 */
const caches = new WeakMap<object, LeaseCache>();

function leasesOf(namespace: object): LeaseCache {
  let cache = caches.get(namespace);
  if (!cache) {
    cache = new LeaseCache();
    caches.set(namespace, cache);
  }
  return cache;
}

export function ruleOf(env: Env, group: RateLimitGroup): RateLimitRule {
  const limits = config(env).rateLimits;
  return { limit: limits[group], windowSeconds: limits.windowSeconds };
}

/**
 * Spends one unit of `bucket` in `group` for this request: sets the
 * rate-limit headers, then throws 429 RATE_LIMITED (with `Retry-After`) when
 * the window is spent, or 503 UNAVAILABLE when the limiter cannot answer.
 */
export async function enforceRateLimit(c: Context<AppEnv>, group: RateLimitGroup, bucket: string): Promise<void> {
  const rule = ruleOf(c.env, group);
  let admission: Admission;
  try {
    const namespace = c.env.RATE_LIMITER;
    admission = await leasesOf(namespace).take(bucket, rule, Date.now, () =>
      namespace.get(namespace.idFromName(bucket)).lease(rule),
    );
  } catch (err) {
    // Fail closed. Nothing is known about the bucket, so claim nothing is left.
    const { end } = windowAt(Date.now(), rule.windowSeconds);
    c.set('rateLimitHeaders', rateLimitHeaders({ limit: rule.limit, remaining: 0, resetAt: end }));
    throw unavailable(err);
  }
  c.set('rateLimitHeaders', rateLimitHeaders(admission));
  if (!admission.allowed) {
    throw new ApiError('RATE_LIMITED', `too many requests; retry in ${admission.retryAfter} seconds`, {
      headers: { 'Retry-After': String(admission.retryAfter) },
    });
  }
}

export function rateLimitHeaders(a: { limit: number; remaining: number; resetAt: number }): Record<string, string> {
  return {
    'X-RateLimit-Limit': String(a.limit),
    'X-RateLimit-Remaining': String(a.remaining),
    // Unix seconds when the window ends (not seconds from now).
    'X-RateLimit-Reset': String(a.resetAt),
  };
}

/**
 * The rate limit of a group (docs/rate-limits.md#groups-and-buckets).
 * `token`: the token endpoints, per app and client IP, and invite accept,
 * per client IP. `admin` and `authorize`: per admin key, after
 * `identifyAdmin` has found it, else per client IP.
 */
export function rateLimit(group: RateLimitGroup): MiddlewareHandler<AppEnv> {
  return async function rateLimit(c, next) {
    const ip = clientIp(c);
    let bucket: string;
    if (group === 'token') {
      const appName = c.req.param('app_name');
      bucket = appName === undefined ? inviteBucket(ip) : tokenBucket(appName, ip);
    } else {
      const principal = c.get('caller')?.principal;
      bucket = principal ? keyBucket(group, principal.id) : ipBucket(group, ip);
    }
    await enforceRateLimit(c, group, bucket);
    await next();
  };
}
