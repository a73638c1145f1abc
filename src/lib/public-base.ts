/**
 * The public base of this deployment (CONTRACT §10): `PUBLIC_BASE_URL` (or
 * the request's origin) followed by `BASE_PATH`. Every URL Heimdall builds,
 * and the default token issuer, start from it.
 */
import type { Context } from 'hono';
import { config } from '../env';
import type { AppEnv } from './context';

export function publicBase(c: Context<AppEnv>): string {
  const { publicBaseUrl, basePath } = config(c.env);
  return (publicBaseUrl || new URL(c.req.url).origin) + basePath;
}

/** `iss` of every token: the `ISSUER` var, else the public base. */
export function issuer(c: Context<AppEnv>): string {
  return config(c.env).issuer || publicBase(c);
}
