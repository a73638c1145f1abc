/**
 * Composes the API: global middleware, one sub-app per resource, and the
 * renderers for errors, unknown routes and wrong methods.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { except } from 'hono/combine';
import { ApiError } from './lib/errors';
import type { AppEnv } from './lib/context';
import { renderError } from './lib/render-error';
import { identifyAdmin, requireAdmin } from './middleware/admin-auth';
import { currentSchema, validConfiguration } from './middleware/configured';
import { requireAppAccess, requireRoot, requireWriteAccess } from './middleware/admin-scope';
import { rateLimit } from './middleware/rate-limit';
import { securityHeaders } from './middleware/security-headers';
import { adminKeysRoutes } from './routes/admin-keys';
import { appsRoutes } from './routes/apps';
import { appAuditLogsRoutes, globalAuditLogsRoutes } from './routes/audit-logs';
import { authorizeRoutes } from './routes/authorize';
import { credentialsRoutes } from './routes/credentials';
import { discoveryRoutes } from './routes/discovery';
import { docsRoutes } from './routes/docs';
import { healthRoutes } from './routes/health';
import { inviteAcceptRoutes, invitesRoutes } from './routes/invites';
import { revocationsRoutes } from './routes/revocations';
import { rolesRoutes } from './routes/roles';
import { signingKeysRoutes } from './routes/signing-keys';
import { tokensRoutes } from './routes/tokens';
import { usersRoutes } from './routes/users';
import { wellKnownRoutes } from './routes/well-known';

/** Largest request body accepted (docs/api-conventions.md#body-size). */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * The token endpoints (docs/tokens.md#token-endpoints): no admin key, rate-limited per app and
 * client IP instead.
 */
export const TOKEN_ROUTES = [
  '/v1/apps/:app_name/tokens',
  '/v1/apps/:app_name/tokens/refresh',
  '/v1/apps/:app_name/tokens/revoke',
] as const;

/** An app's authorization server metadata (RFC 8414): a public document, like the JWKS. */
export const DISCOVERY_ROUTE = '/v1/apps/:app_name/.well-known/oauth-authorization-server';

/** Public documents of an app under /v1/apps: no admin key, no rate limit (edges cache them). */
export const APP_DOCUMENT_ROUTES = ['/v1/apps/:app_name/revocations', DISCOVERY_ROUTE] as const;

/**
 * Every route under /v1/apps that takes no admin key. The admin group and the
 * app-scope check below apply to everything else under /v1/apps.
 */
export const PUBLIC_APP_ROUTES = [...TOKEN_ROUTES, ...APP_DOCUMENT_ROUTES] as const;

/**
 * Every route that takes no admin key: the token routes and invite accept
 * (their own credentials), authorize (the key is optional), and public
 * documents (the API reference page `/docs` too). Everything else is an
 * admin route; the shared route suites read this list, so a new public route
 * must be added here.
 */
export const PUBLIC_ROUTES = [
  ...PUBLIC_APP_ROUTES,
  '/v1/invites/:invite_token/accept',
  '/v1/authorize',
  '/v1/health',
  '/v1/.well-known/jwks.json',
  '/v1/openapi.json',
  '/docs',
] as const;

export const app = new Hono<AppEnv>();

// Outermost: decorates every answer, errors included, with the security and
// rate-limit headers.
app.use('*', securityHeaders());
app.use('*', validConfiguration());
// The API's own documentation is built from the router alone: no database.
app.use('*', except(['/v1/openapi.json', '/docs'], currentSchema()));

// Rate limits (docs/rate-limits.md#groups-and-buckets) and admin
// authentication, in this order: identify the caller, spend its bucket,
// then refuse a caller without a valid key (so bad keys are counted too).
// All before the body limit, so that a 413 is counted and carries the
// rate-limit headers. Each request is in exactly one group: one bucket, at
// most one Durable Object call. Routes added later inherit this from their
// path; they must not add a limiter of their own.
for (const path of TOKEN_ROUTES) app.use(path, rateLimit('token'));
app.use('/v1/invites/:invite_token/accept', rateLimit('token'));
app.use('/v1/authorize', identifyAdmin({ optional: true }), rateLimit('authorize'), requireAdmin({ optional: true }));

// Admin group. Hono's `/x/*` also matches `/x` itself, so one pattern covers
// a collection and everything under it (registering both would run the
// middleware, and count the request, twice).
const adminOnly = [identifyAdmin(), rateLimit('admin'), requireAdmin(), requireWriteAccess()] as const;
app.use('/v1/apps/*', except([...PUBLIC_APP_ROUTES], ...adminOnly));
// Structural tenant check: every route on an app, `/v1/apps/:app_name` and
// anything nested under it (users, roles, credentials, invites, audit logs,
// whoever adds them), passes `requireAppAccess` here rather than per route.
app.use('/v1/apps/:app_name/*', except([...PUBLIC_APP_ROUTES], requireAppAccess()));
app.use('/v1/admin-keys/*', ...adminOnly, requireRoot());
app.use('/v1/signing-keys/*', ...adminOnly, requireRoot());
app.use('/v1/audit-logs/*', ...adminOnly, requireRoot());

app.use(
  '*',
  bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new ApiError('PAYLOAD_TOO_LARGE', `the body must be at most ${MAX_BODY_BYTES} bytes`);
    },
  }),
);

app.route('/v1/apps', appsRoutes);
app.route('/v1/apps/:app_name/users', usersRoutes);
app.route('/v1/apps/:app_name/roles', rolesRoutes);
app.route('/v1/apps/:app_name/invites', invitesRoutes);
app.route('/v1/apps/:app_name/credentials', credentialsRoutes);
app.route('/v1/apps/:app_name/audit-logs', appAuditLogsRoutes);
app.route('/v1/apps/:app_name/tokens', tokensRoutes);
// Public, no admin key: the invite token is the credential (rate-limited above).
app.route('/v1/invites', inviteAcceptRoutes);
app.route('/v1/authorize', authorizeRoutes);
app.route('/v1/admin-keys', adminKeysRoutes);
app.route('/v1/signing-keys', signingKeysRoutes);
app.route('/v1/audit-logs', globalAuditLogsRoutes);
// Public documents: no key, no rate limit (edges cache them).
app.route('/v1/.well-known', wellKnownRoutes);
app.route('/v1/apps/:app_name/.well-known', discoveryRoutes);
app.route('/v1/apps/:app_name/revocations', revocationsRoutes);
app.route('/v1/health', healthRoutes);
app.route(
  '/',
  docsRoutes(() => app.routes, {
    publicRoutes: PUBLIC_ROUTES,
    documentRoutes: [...APP_DOCUMENT_ROUTES, '/v1/.well-known/jwks.json', '/v1/openapi.json', '/v1/health'],
    optionalKeyRoutes: ['/v1/authorize'],
    basicAuthRoutes: ['/v1/apps/:app_name/tokens'],
  }),
);

app.onError(renderError);
app.notFound((c) => {
  const allow = allowedMethods(c.req.path);
  if (allow.length > 0) {
    return renderError(
      new ApiError('METHOD_NOT_ALLOWED', `${c.req.method} is not allowed here`, { headers: { Allow: allow.join(', ') } }),
      c,
    );
  }
  return renderError(new ApiError('NOT_FOUND', 'no such route'), c);
});

let routeTable: { pattern: RegExp; method: string }[] | undefined;

/** Methods the router serves for `path`, read from the router's own route list. */
function allowedMethods(path: string): string[] {
  routeTable ??= app.routes
    .filter((r) => r.method !== 'ALL')
    .map((r) => ({
      method: r.method,
      pattern: new RegExp(`^${r.path.replace(/\/$/, '').replace(/:[A-Za-z_]+/g, '[^/]+')}/?$`),
    }));
  const methods = new Set<string>();
  for (const route of routeTable) if (route.pattern.test(path)) methods.add(route.method);
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods].sort();
}
