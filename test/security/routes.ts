/**
 * The route table of the security suites, read from the router itself
 * (`app.routes`), never written by hand: every (method, path) the Worker
 * serves, what guards it (from `PUBLIC_ROUTES` and the `requireRoot`
 * middleware the router holds, recognised by its `ROOT_ONLY` mark), and its request schema (carried by
 * `jsonBody` under `ROUTE_SCHEMA`).
 *
 * What the table cannot read from the router it takes from two maps keyed so
 * that a new route needs little: fixtures by PARAMETER NAME (`user_id`,
 * `role_name`, ...) and a minimal valid body by "METHOD path". The suite
 * `route-guards.test.ts` fails when a served route has a parameter without a
 * fixture or a body without an entry, so no route can skip the suites.
 */
import type { z } from 'zod';
import { PUBLIC_ROUTES, TOKEN_ROUTES, app } from '../../src/app';
import { ROOT_ONLY } from '../../src/middleware/admin-scope';
import { ROUTE_SCHEMA, type RouteSchemaMeta } from '../../src/lib/validation';
import { PASSWORD } from '../helpers';
import type { World } from './world';

/** Who may call a route. */
export type Access =
  | 'admin' // any admin key with the right scope
  | 'root' // the root key alone
  | 'token' // no admin key: its own credentials, rate-limited per client IP (token routes, invite accept)
  | 'authorize' // an optional admin key
  | 'document'; // public, cacheable, not rate-limited

export interface Route {
  method: string;
  path: string;
  /** `METHOD path`, the key of the maps below. */
  id: string;
  params: string[];
  access: Access;
  /** Not a read: read-only keys are refused. */
  write: boolean;
  /** The JSON body schema, when `jsonBody` validates one. */
  json?: z.ZodType;
  query?: z.ZodType;
  /** Takes a request body: a JSON schema, or the token routes' JSON-or-form parameters. */
  takesBody: boolean;
}

const PUBLIC = new Set<string>(PUBLIC_ROUTES);
const TOKEN_LIKE = new Set<string>([...TOKEN_ROUTES, '/v1/invites/:invite_token/accept']);
const READS = new Set(['GET', 'HEAD']);

/** `/v1/admin-keys/*` matches `/v1/admin-keys` and everything under it, as Hono's `/x/*` does. */
function middlewareMatches(pattern: string, path: string): boolean {
  if (pattern === '*' || pattern === '/*') return true;
  const source = pattern
    .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
    .replace(/:[A-Za-z_]+/g, '[^/]+')
    .replace(/\/\*$/, '(/.*)?');
  return new RegExp(`^${source}$`).test(path);
}

function isRootOnly(handler: unknown): boolean {
  return typeof handler === 'function' && (handler as { [ROOT_ONLY]?: boolean })[ROOT_ONLY] === true;
}

function build(): Route[] {
  const middleware = app.routes.filter((r) => r.method === 'ALL');
  const byId = new Map<string, Route>();
  for (const entry of app.routes) {
    if (entry.method === 'ALL') continue;
    const id = `${entry.method} ${entry.path}`;
    let route = byId.get(id);
    if (!route) {
      const rootOnly = [...middleware.filter((m) => middlewareMatches(m.path, entry.path)), ...app.routes.filter((r) => `${r.method} ${r.path}` === id)]
        .some((m) => isRootOnly(m.handler));
      const access: Access = !PUBLIC.has(entry.path)
        ? rootOnly ? 'root' : 'admin'
        : TOKEN_LIKE.has(entry.path) ? 'token' : entry.path === '/v1/authorize' ? 'authorize' : 'document';
      route = {
        method: entry.method,
        path: entry.path,
        id,
        params: [...entry.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => m[1]!),
        access,
        write: !READS.has(entry.method),
        takesBody: TOKEN_LIKE.has(entry.path),
      };
      byId.set(id, route);
    }
    const meta = (entry.handler as { [ROUTE_SCHEMA]?: RouteSchemaMeta })[ROUTE_SCHEMA];
    if (meta?.json) Object.assign(route, { json: meta.json, takesBody: true });
    if (meta?.query) route.query = meta.query;
  }
  return [...byId.values()];
}

/** Every route the router serves. */
export const ROUTES: readonly Route[] = build();

export const PROTECTED = ROUTES.filter((r) => r.access === 'admin' || r.access === 'root');
export const BODY_ROUTES = ROUTES.filter((r) => r.takesBody);
/** Rate-limited routes: everything but the public documents (docs/rate-limits.md#groups-and-buckets). */
export const LIMITED = ROUTES.filter((r) => r.access !== 'document');

/** Path parameters: the fixture of a world, and a well-formed value that names nothing. */
export interface ParamFixture {
  of: (w: World, route: Route) => string;
  unknown: string;
}

const NOTHING = '0'.repeat(26);

export const PARAMS: Record<string, ParamFixture> = {
  app_name: { of: (w) => w.app.name, unknown: 'no-such-app-anywhere' },
  user_id: { of: (w) => w.userId, unknown: `usr_${NOTHING}` },
  role_name: { of: (w) => w.roleName, unknown: 'no-such-role' },
  credential_id: { of: (w) => w.credentialId, unknown: `cred_${NOTHING}` },
  invite_id: { of: (w) => w.inviteId, unknown: `inv_${NOTHING}` },
  // An app's log under /v1/apps, the global log elsewhere.
  log_id: { of: (w, route) => (route.path.startsWith('/v1/apps/') ? w.appLogId : w.globalLogId), unknown: `aud_${NOTHING}` },
  key_id: { of: (w) => w.keyId, unknown: `key_${NOTHING}` },
  invite_token: { of: (w) => w.inviteToken, unknown: `inv_tok_${NOTHING}${'0'.repeat(10)}` },
};

export type Body = (w: World) => Record<string, unknown>;

let serial = 0;
/** A value no other request of the run uses (names, emails). */
export function fresh(prefix: string): string {
  serial += 1;
  return `${prefix}-${Date.now().toString(36)}-${serial}-${Math.random().toString(36).slice(2, 7)}`;
}

/** A minimal valid body of each route that takes one; each call gives fresh unique values. */
export const BODIES: Record<string, Body> = {
  'POST /v1/apps': () => ({ name: fresh('app') }),
  'PATCH /v1/apps/:app_name': () => ({ display_name: fresh('Renamed') }),
  'POST /v1/apps/:app_name/users': () => ({ email: `${fresh('user')}@example.com` }),
  'PATCH /v1/apps/:app_name/users/:user_id': () => ({ display_name: fresh('Jane') }),
  'POST /v1/apps/:app_name/users/:user_id/roles': (w) => ({ role: w.spareRoleName }),
  'POST /v1/apps/:app_name/roles': () => ({ name: fresh('role'), permissions: ['projects:read'] }),
  'PATCH /v1/apps/:app_name/roles/:role_name': () => ({ display_name: fresh('Editors') }),
  'POST /v1/apps/:app_name/invites': (w) => ({ role: w.roleName }),
  'POST /v1/apps/:app_name/credentials': () => ({ name: fresh('svc'), permissions: ['projects:read'] }),
  'PATCH /v1/apps/:app_name/credentials/:credential_id': () => ({ name: fresh('svc') }),
  'POST /v1/apps/:app_name/tokens': (w) => ({ grant_type: 'client_credentials', client_id: w.clientId, client_secret: w.clientSecret }),
  'POST /v1/apps/:app_name/tokens/refresh': (w) => ({ refresh_token: w.refreshToken }),
  'POST /v1/apps/:app_name/tokens/revoke': (w) => ({ refresh_token: w.refreshToken }),
  'POST /v1/invites/:invite_token/accept': () => ({ password: PASSWORD, email: `${fresh('invitee')}@example.com` }),
  'POST /v1/authorize': (w) => ({ token: w.accessToken, permission: 'projects:read' }),
  'POST /v1/admin-keys': () => ({ name: fresh('key') }),
};

/** Further valid bodies of a route, for the input-abuse suite (each grant of the token endpoint). */
export const BODY_VARIANTS: Record<string, Record<string, Body>> = {
  'POST /v1/apps/:app_name/tokens': {
    // One email per world: its failures lock it after a few, so abuse costs few password hashes.
    password: (w) => ({ grant_type: 'password', email: `nobody@${w.app.name}.example`, password: 'not the password' }),
    refresh_token: (w) => ({ grant_type: 'refresh_token', refresh_token: w.refreshToken }),
  },
};

/** The query a valid call needs (a role the fixture user holds is deleted with force). */
export const QUERIES: Record<string, string> = {
  'DELETE /v1/apps/:app_name/roles/:role_name': '?force=true',
};

/** Every body of a route: the minimal one, then its variants. */
export function bodiesOf(route: Route): [string, Body][] {
  const main = BODIES[route.id];
  return [...(main ? [['minimal', main] as [string, Body]] : []), ...Object.entries(BODY_VARIANTS[route.id] ?? {})];
}

/** The route's path with each parameter taken from `w`, or from `overrides` by name. */
export function pathOf(route: Route, w: World, overrides: Record<string, string> = {}): string {
  return route.path.replace(/:([A-Za-z_]+)/g, (_, name: string) => encodeURIComponent(overrides[name] ?? PARAMS[name]!.of(w, route)));
}

/** What a route lacks in the maps above (empty when the suites can run it). */
export function missingFixtures(route: Route): string[] {
  const missing = route.params.filter((p) => !PARAMS[p]).map((p) => `parameter ${p}`);
  if (route.takesBody && !BODIES[route.id]) missing.push('a body in BODIES');
  return missing;
}
