/**
 * The public base of this deployment (docs/configuration.md#public-base-url): `PUBLIC_BASE_URL` (or
 * the request's origin) followed by `BASE_PATH`. Every URL Heimdall builds,
 * and the default token issuer, start from it.
 */
import type { Context } from 'hono';
import { config } from '../env';
import type { AppEnv } from './context';

export function publicBase(c: Context<AppEnv>): string {
  const { publicBaseUrl, basePath } = config(c.env);
  return (publicBaseUrl || requestOrigin(c.req.url)) + basePath;
}

/** The origin last parsed in this isolate: almost every request of an isolate has the same. */
let lastOrigin = '';

/**
 * `new URL(url).origin`, without parsing a URL per request (measurable on
 * /v1/authorize). A URL that starts with `<origin>/` has exactly that origin:
 * the `/` ends the authority, so neither a port nor user info can follow.
 */
export function requestOrigin(url: string): string {
  if (lastOrigin !== '' && url.startsWith(lastOrigin) && url.charCodeAt(lastOrigin.length) === 0x2f) return lastOrigin;
  const origin = new URL(url).origin;
  // An opaque origin ("null", e.g. a data: URL) is never a prefix worth remembering.
  if (origin !== 'null') lastOrigin = origin;
  return origin;
}

/** `iss` of every token: the `ISSUER` var, else the public base. */
export function issuer(c: Context<AppEnv>): string {
  return config(c.env).issuer || publicBase(c);
}
