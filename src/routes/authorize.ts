/**
 * POST /v1/authorize (docs/tokens.md#authorize): verify a token and check permissions.
 * An admin key is optional (it selects the rate-limit bucket), but a key
 * that is sent must be valid: `identifyAdmin`, `rateLimit('authorize')` and
 * `requireAdmin`, with `optional`, check it and apply the limit in app.ts.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { database } from '../db/client';
import type { AppEnv } from '../lib/context';
import { issuer } from '../lib/public-base';
import { jsonBody } from '../lib/validation';
import { authorize } from '../services/authorize';
import { appNameSchema } from './apps';
import { permissionSchema } from './roles';

const authorizeBody = z
  .strictObject({
    // Larger than any token we issue, so an oversized forgery gets the same 401 as any other.
    token: z.string().min(1).max(32_768),
    permission: permissionSchema.optional(),
    permissions: z.array(permissionSchema).min(1).max(50).optional(),
    app: appNameSchema.optional(),
  })
  .refine((b) => (b.permission === undefined) !== (b.permissions === undefined), {
    path: ['permission'],
    params: { reason: 'required' },
    message: 'give exactly one of permission or permissions',
  });

export const authorizeRoutes = new Hono<AppEnv>().post('/', jsonBody(authorizeBody), async (c) => {
  const body = c.req.valid('json');
  const answer = await authorize(
    { db: database(c.env), issuer: issuer(c), now: Date.now(), waitUntil: (p) => c.executionCtx.waitUntil(p) },
    { token: body.token, permissions: body.permissions ?? [body.permission!], app: body.app },
  );
  return c.json(answer);
});
