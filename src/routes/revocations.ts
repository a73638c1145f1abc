/**
 * GET /v1/apps/:app_name/revocations: the public revocation feed that edge
 * verifiers poll (see services/revocations.ts). Public like the JWKS: it
 * holds opaque ids and instants, no secret. Cached briefly by edges and per
 * isolate, with an ETag so a poll that finds nothing new costs a 304.
 */
import { Hono } from 'hono';
import { database } from '../db/client';
import { config } from '../env';
import { cacheableJson } from '../lib/cacheable';
import type { AppEnv } from '../lib/context';
import { requireApp } from '../services/apps';
import { revocationFeed } from '../services/revocations';

/** Edges and this isolate reuse a feed for one second: well inside a poll interval of a few seconds. */
const FEED_TTL_MS = 1_000;
export const FEED_CACHE_CONTROL = 'public, max-age=1';

const cache = new Map<string, { at: number; body: string }>();

export const revocationsRoutes = new Hono<AppEnv>().get('/', async (c) => {
  const name = c.req.param('app_name')!;
  const now = Date.now();
  let entry = cache.get(name);
  if (!entry || now - entry.at >= FEED_TTL_MS) {
    const db = database(c.env);
    const app = await requireApp(db, name);
    entry = { at: now, body: JSON.stringify(await revocationFeed(db, app, config(c.env).accessTokenTtlSeconds, now)) };
    cache.set(name, entry);
    if (cache.size > 10_000) cache.delete(cache.keys().next().value!);
  }
  return cacheableJson(c, entry.body, FEED_CACHE_CONTROL);
});
