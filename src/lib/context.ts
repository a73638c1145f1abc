/**
 * The Hono environment every route shares: the Worker's bindings and the
 * per-request variables the middleware sets.
 */
import type { Context } from 'hono';
import type { Env } from '../env';

/** Who is calling an admin route: the root key or a managed key. */
export interface AdminPrincipal {
  /** `root` for the root key, else the managed key's `key_...` id. */
  id: string;
  /** App names the key may act on; null for every app. */
  apps: readonly string[] | null;
  readOnly: boolean;
}

export interface Variables {
  requestId: string;
  /**
   * Set by `requireAdmin` on admin routes. On `/v1/authorize` the key is
   * optional: there it is unset when no key was sent.
   */
  admin: AdminPrincipal;
  /**
   * What `identifyAdmin` found: the principal of a valid key, or null (no
   * key, a wrong one, or storage failed: then `failure` holds the error).
   * The rate limit picks its bucket from it; `requireAdmin` decides.
   */
  caller: { principal: AdminPrincipal | null; failure?: unknown };
  /** Rate-limit headers of this request, applied to every answer (errors too). */
  rateLimitHeaders: Record<string, string> | undefined;
}

export interface AppEnv {
  Bindings: Env;
  Variables: Variables;
}

export type AppContext = Context<AppEnv>;

/** The caller's IP. Only Cloudflare's header counts: X-Forwarded-For is spoofable. */
export function clientIp(c: Context): string {
  return c.req.header('CF-Connecting-IP')?.trim() || 'unknown';
}

export function userAgent(c: Context): string | null {
  const ua = c.req.header('User-Agent');
  return ua ? ua.slice(0, 512) : null;
}
