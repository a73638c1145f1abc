/**
 * What an authenticated admin key may do (docs/resources.md#key-scope): a key limited to some
 * apps acts only on those (403 elsewhere, and cannot create apps); a
 * read-only key may only read; some routes are for the root key alone.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { clientIp, userAgent, type AppEnv } from '../lib/context';
import { ApiError } from '../lib/errors';
import type { Actor } from '../services/audit';

const READ_METHODS = new Set(['GET', 'HEAD']);

function forbidden(message: string): ApiError {
  return new ApiError('FORBIDDEN', message);
}

/** Read-only keys may only read. Runs after admin authentication on every admin route. */
export function requireWriteAccess(): MiddlewareHandler<AppEnv> {
  return async function requireWriteAccess(c, next) {
    if (c.var.admin.readOnly && !READ_METHODS.has(c.req.method)) {
      throw forbidden('this admin key is read-only');
    }
    await next();
  };
}

/** The app in the path must be one the key may act on. */
export function requireAppAccess(): MiddlewareHandler<AppEnv> {
  return async function requireAppAccess(c, next) {
    const allowed = c.var.admin.apps;
    const name = c.req.param('app_name');
    if (allowed && (name === undefined || !allowed.includes(name))) {
      throw forbidden('this admin key may not act on this app');
    }
    await next();
  };
}

/** Creating apps needs a key that is not limited to a list of apps. */
export function requireAppCreation(): MiddlewareHandler<AppEnv> {
  return async function requireAppCreation(c, next) {
    if (c.var.admin.apps) throw forbidden('this admin key is limited to some apps and cannot create apps');
    await next();
  };
}

/** Routes for the root key alone (admin keys, signing keys, the global audit log). */
/** Marks the `requireRoot` middleware, so the router can be read for root-only routes (names do not survive bundling). */
export const ROOT_ONLY = Symbol('heimdall.rootOnly');

export function requireRoot(): MiddlewareHandler<AppEnv> {
  const middleware: MiddlewareHandler<AppEnv> = async (c, next) => {
    if (c.var.admin.id !== 'root') throw forbidden('only the root key may do this');
    await next();
  };
  return Object.assign(middleware, { [ROOT_ONLY]: true });
}

/** The audit actor of a request: the admin key's id (`root` for the root key), IP and user agent. */
export function actorOf(c: Context<AppEnv>, id?: string | null): Actor {
  return {
    id: id === undefined ? c.var.admin?.id ?? null : id,
    ip: c.req.header('CF-Connecting-IP') ? clientIp(c) : null,
    userAgent: userAgent(c),
    requestId: c.var.requestId,
  };
}
