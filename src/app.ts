/**
 * Composes the API: global middleware, one sub-app per resource, and the
 * renderers for errors, unknown routes and wrong methods.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ApiError } from './lib/errors';
import type { AppEnv } from './lib/context';
import { renderError } from './lib/render-error';
import { adminAuth } from './middleware/admin-auth';
import { requireWriteAccess } from './middleware/admin-scope';
import { securityHeaders } from './middleware/security-headers';
import { appsRoutes } from './routes/apps';
import { appAuditLogsRoutes, globalAuditLogsRoutes } from './routes/audit-logs';
import { rolesRoutes } from './routes/roles';
import { usersRoutes } from './routes/users';

/** Largest request body accepted (CONTRACT §1). */
export const MAX_BODY_BYTES = 64 * 1024;

export const app = new Hono<AppEnv>();

app.use('*', securityHeaders());
app.use(
  '*',
  bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new ApiError('PAYLOAD_TOO_LARGE', `the body must be at most ${MAX_BODY_BYTES} bytes`);
    },
  }),
);

app.use('/v1/apps', adminAuth(), requireWriteAccess());
app.use('/v1/apps/*', adminAuth(), requireWriteAccess());
app.route('/v1/apps', appsRoutes);
app.route('/v1/apps/:app_name/users', usersRoutes);
app.route('/v1/apps/:app_name/roles', rolesRoutes);
app.route('/v1/apps/:app_name/audit-logs', appAuditLogsRoutes);

app.use('/v1/audit-logs', adminAuth(), requireWriteAccess());
app.use('/v1/audit-logs/*', adminAuth(), requireWriteAccess());
app.route('/v1/audit-logs', globalAuditLogsRoutes);

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
