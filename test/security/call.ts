/**
 * Requests and header checks shared by the security suites.
 */
import { expect } from 'vitest';
import { ROOT_KEY, api, type ApiResponse, type RequestOptions } from '../helpers';
import { QUERIES, pathOf, type Route } from './routes';
import type { World } from './world';

export interface CallOptions extends Omit<RequestOptions, 'body'> {
  body?: Record<string, unknown> | null;
  /** Path parameters to use instead of the world's, by name. */
  params?: Record<string, string>;
  /** Query string, `?` included; default the route's valid query. */
  query?: string;
}

/** The route called as its rightful caller would: the root key for admin routes, no key for the others. */
export function callRoute(route: Route, w: World, options: CallOptions = {}): Promise<ApiResponse> {
  const { params, query, body, ...rest } = options;
  const key = rest.key !== undefined ? rest.key : route.access === 'admin' || route.access === 'root' ? ROOT_KEY : null;
  const path = `${pathOf(route, w, params)}${query ?? QUERIES[route.id] ?? ''}`;
  return api(route.method, path, { ...rest, key, ...(body ? { body } : {}) });
}

/** `X-RateLimit-Limit`, `-Remaining` and `-Reset`, each a whole number (docs/rate-limits.md#headers). */
export function expectRateLimitHeaders(res: ApiResponse): void {
  for (const name of ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset']) {
    expect(res.headers.get(name), `${name} on a ${res.status}`).toMatch(/^\d+$/);
  }
}

/**
 * The headers every answer of `route` carries (docs/api-conventions.md#response-headers, docs/rate-limits.md#headers): nosniff;
 * `no-store` and the rate-limit headers except on public documents; no CORS
 * grant to a foreign origin (documents may allow any origin, never with
 * credentials).
 */
export function expectRouteHeaders(route: Route, res: ApiResponse): void {
  expect(res.headers.get('X-Content-Type-Options')).toBe('nosniff');
  const allowOrigin = res.headers.get('Access-Control-Allow-Origin');
  expect(res.headers.get('Access-Control-Allow-Credentials')).toBeNull();
  if (route.access === 'document') {
    expect([null, '*']).toContain(allowOrigin);
    return;
  }
  expect(allowOrigin).toBeNull();
  expect(res.headers.get('Cache-Control')).toBe('no-store');
  expectRateLimitHeaders(res);
}
