/**
 * The public base of this deployment (docs/configuration.md#public-base-url): `PUBLIC_BASE_URL` (or
 * the request's origin) followed by `BASE_PATH`. Every URL Heimdall builds,
 * and the default token issuer, start from it.
 */
import type { Context } from 'hono';
import { config } from '../env';
import type { AppEnv } from './context';
import { configurationError } from './errors';

export function publicBase(c: Context<AppEnv>): string {
  const { publicBaseUrl, basePath } = config(c.env);
  return (publicBaseUrl || localOrigin(c.req.url)) + basePath;
}

/** Hosts of local development, where the request's origin may stand in for `PUBLIC_BASE_URL`. */
const LOCAL_HOST = /^(localhost|127\.0\.0\.1|\[::1\])$/;

/**
 * The request's origin, for local development only
 * (docs/configuration.md#public-base-url): anywhere else a URL built from the
 * Host header would let a caller choose the issuer and every link Heimdall
 * hands out, so an empty `PUBLIC_BASE_URL` is a configuration error there.
 */
let lastLocalOrigin = '';

function localOrigin(url: string): string {
  const origin = requestOrigin(url);
  if (origin === lastLocalOrigin) return origin;
  const host = origin.slice(origin.indexOf('//') + 2).replace(/:\d+$/, '');
  if (!LOCAL_HOST.test(host)) throw configurationError('PUBLIC_BASE_URL', 'is not set (required unless the host is localhost)');
  lastLocalOrigin = origin;
  return origin;
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
