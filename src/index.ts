/**
 * The Worker: HTTP through the Hono app (honouring `BASE_PATH`, see
 * docs/api-conventions.md#base-path), the scheduled signing-key maintenance, and the Durable Object classes.
 */
import { app } from './app';
import { database } from './db/client';
import { ensureSchema } from './db/migrate';
import { config, type Env } from './env';
import { runScheduledKeyMaintenance } from './services/signing-keys';

export { LoginThrottle } from './durable-objects/login-throttle';
export { RateLimiter } from './durable-objects/rate-limiter';
export { RefreshTokenFamily } from './durable-objects/refresh-token-family';

export default {
  fetch(request, env, ctx) {
    let basePath: string;
    try {
      basePath = config(env).basePath;
    } catch {
      // A malformed setting: the app's first middleware meets the same error
      // and renders it as a CONFIGURATION_ERROR, with the usual headers.
      return app.fetch(request, env, ctx);
    }
    if (basePath === '') return app.fetch(request, env, ctx);
    const url = new URL(request.url);
    if (url.pathname === basePath || url.pathname.startsWith(`${basePath}/`)) {
      url.pathname = url.pathname.slice(basePath.length) || '/';
    } else {
      // Outside the mount point: no route matches, and the answer says so.
      url.pathname = '/__outside_base_path__';
    }
    return app.fetch(new Request(url, request), env, ctx);
  },

  async scheduled(_controller, env) {
    await ensureSchema(env.DB);
    const result = await runScheduledKeyMaintenance(env, database(env), Date.now());
    console.log(JSON.stringify({ level: 'info', job: 'signing-key-maintenance', ...result }));
  },
} satisfies ExportedHandler<Env>;
