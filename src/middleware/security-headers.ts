/**
 * Headers every answer carries (docs/api-conventions.md#response-headers, docs/security-decisions.md#response-headers-and-cors), errors included:
 * this middleware is outermost, so it also decorates what `onError` and
 * `notFound` render. Routes that serve public, cacheable documents set their
 * own `Cache-Control` and keep it.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../lib/context';
import { newId } from '../lib/ids';

const FIXED: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
  'X-Frame-Options': 'DENY',
};

export function securityHeaders(): MiddlewareHandler<AppEnv> {
  return async function securityHeaders(c, next) {
    const requestId = newId('request');
    c.set('requestId', requestId);
    c.set('rateLimitHeaders', undefined);
    await next();
    const headers = c.res.headers;
    for (const [name, value] of Object.entries(FIXED)) headers.set(name, value);
    headers.set('X-Request-Id', requestId);
    if (!headers.has('Cache-Control')) {
      // Admin and token answers must never be stored by a cache (RFC 6749 §5.1).
      headers.set('Cache-Control', 'no-store');
      headers.set('Pragma', 'no-cache');
    }
    if (!headers.has('Content-Security-Policy')) {
      headers.set('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
    }
    if (headers.get('Content-Type') === 'application/json') {
      headers.set('Content-Type', 'application/json; charset=utf-8');
    }
    const rateLimit = c.get('rateLimitHeaders');
    if (rateLimit) for (const [name, value] of Object.entries(rateLimit)) headers.set(name, value);
  };
}
