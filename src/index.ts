/**
 * The Worker: HTTP through the Hono app, honouring `BASE_PATH` (CONTRACT §1),
 * and the Durable Object classes it binds.
 */
import { app } from './app';
import { config, type Env } from './env';

export { RateLimiter } from './durable-objects/rate-limiter';

export default {
  fetch(request, env, ctx) {
    const { basePath } = config(env);
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
} satisfies ExportedHandler<Env>;
