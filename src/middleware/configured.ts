/**
 * The first middlewares after the security headers. `validConfiguration`:
 * the configuration parses (a malformed var answers 500
 * `CONFIGURATION_ERROR` naming it, see
 * docs/configuration.md#configuration-errors). `currentSchema`: the
 * isolate's database has every migration of this build
 * (docs/configuration.md#schema-migrations), before any route reads it.
 */
import type { MiddlewareHandler } from 'hono';
import { ensureSchema } from '../db/migrate';
import { config } from '../env';
import type { AppEnv } from '../lib/context';

export function validConfiguration(): MiddlewareHandler<AppEnv> {
  return async function validConfiguration(c, next) {
    config(c.env);
    await next();
  };
}

export function currentSchema(): MiddlewareHandler<AppEnv> {
  return async function currentSchema(c, next) {
    const migrating = ensureSchema(c.env.DB);
    if (migrating) await migrating;
    await next();
  };
}
