/**
 * Public documents: the JWKS (docs/tokens.md#jwks). No key, no rate limit; edges and
 * clients cache it. Served from the per-isolate key ring, so a warm isolate
 * answers without touching D1.
 */
import { Hono } from 'hono';
import { database } from '../db/client';
import { cacheableJson } from '../lib/cacheable';
import type { AppEnv } from '../lib/context';
import { keyRing } from '../services/signing-keys';

/**
 * Five minutes: short next to the rotation period (a promoted key has been
 * published since the previous rotation), long enough to spare the origin.
 * Verifiers refetch on an unknown kid anyway.
 */
export const JWKS_CACHE_CONTROL = 'public, max-age=300, stale-while-revalidate=60';

export const wellKnownRoutes = new Hono<AppEnv>().get('/jwks.json', async (c) => {
  const ring = await keyRing(database(c.env), Date.now(), (p) => c.executionCtx.waitUntil(p));
  return cacheableJson(c, ring.jwks, JWKS_CACHE_CONTROL);
});
