/**
 * GET /v1/health: a liveness answer that touches no storage, for load
 * balancers and operators, and the baseline of the benchmarks.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../lib/context';

export const healthRoutes = new Hono<AppEnv>().get('/', (c) => c.json({ status: 'ok' }));
