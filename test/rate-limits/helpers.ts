/**
 * Helpers of the `rate-limits` project (small limits, a 2-second window; see
 * vitest.config.ts). Setup writes apps and keys straight into D1, so it never
 * spends a bucket (not even root's); every test works in its own buckets (a
 * fresh key, a fresh client IP) and starts at the beginning of a window.
 */
import { env } from 'cloudflare:test';
import { expect, vi } from 'vitest';
import { hashSecret } from '../../src/auth/secrets';
import { newId, newSecret } from '../../src/lib/ids';
import { api, uniqueName, type ApiResponse } from '../helpers';

export const WINDOW_SECONDS = Number(env.RATE_LIMIT_WINDOW_SECONDS);
export const LIMITS = {
  admin: Number(env.RATE_LIMIT_ADMIN_PER_MIN),
  token: Number(env.RATE_LIMIT_TOKEN_PER_MIN),
  authorize: Number(env.RATE_LIMIT_AUTHORIZE_PER_MIN),
};

/**
 * Moves the clock to just after the start of the next window, so that
 * everything a test does next falls in one window, and stops it there.
 * Returns that window's end (the expected Reset). The Worker, its isolate's
 * leases and the RateLimiter objects run in this isolate and read the same
 * `Date`, so no test waits for a real window to pass; the clock only moves
 * forward, from one test to the next.
 */
export function freshWindow(): number {
  const length = WINDOW_SECONDS * 1000;
  const start = Date.now() - (Date.now() % length) + length;
  vi.useFakeTimers({ toFake: ['Date'], now: start + 25 });
  return start / 1000 + WINDOW_SECONDS;
}

/** Moves the stopped clock to `ms` past the epoch (just past a window's end, say). */
export function setClock(ms: number): void {
  vi.setSystemTime(ms);
}

/** A managed admin key written straight into D1: its own, untouched buckets. */
export async function insertKey(options: { apps?: string[]; readOnly?: boolean } = {}): Promise<{ id: string; key: string }> {
  const now = Date.now();
  const id = newId('adminKey', now);
  const key = newSecret('hk_', now);
  await env.DB.prepare('INSERT INTO admin_keys (id, name, key_hash, apps, read_only, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
    .bind(id, 'rate-limit test', await hashSecret(key), options.apps ? JSON.stringify(options.apps) : null, options.readOnly ? 1 : 0, 'active', now)
    .run();
  return { id, key };
}

/** An app written straight into D1. */
export async function insertApp(): Promise<{ id: string; name: string }> {
  const now = Date.now();
  const app = { id: newId('app', now), name: uniqueName() };
  await env.DB.prepare('INSERT INTO apps (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)').bind(app.id, app.name, now, now).run();
  return app;
}

let ipCounter = 0;
/** A client IP no other test uses (198.18.0.0/15 is reserved for benchmarking). */
export function uniqueIp(): string {
  ipCounter += 1;
  return `198.18.${Math.floor(Math.random() * 256)}.${ipCounter % 256}`;
}

export interface CallOptions {
  /** Admin key; omitted or null sends none. */
  key?: string | null;
  ip?: string;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
}

/** A request with no admin key unless one is given, from `ip` when given. */
export function call(method: string, path: string, options: CallOptions = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.ip) headers['CF-Connecting-IP'] = options.ip;
  return api(method, path, { key: options.key ?? null, body: options.body, raw: options.raw, headers });
}

export interface RateLimitView {
  limit: number;
  remaining: number;
  reset: number;
  retryAfter: number | null;
}

/** The rate-limit headers of an answer; fails the test when one is missing. */
export function rateLimitOf(res: ApiResponse): RateLimitView {
  const read = (name: string) => {
    const value = res.headers.get(name);
    expect(value, `${name} on a ${res.status} answer`).toMatch(/^\d+$/);
    return Number(value);
  };
  const retryAfter = res.headers.get('Retry-After');
  return { limit: read('X-RateLimit-Limit'), remaining: read('X-RateLimit-Remaining'), reset: read('X-RateLimit-Reset'), retryAfter: retryAfter === null ? null : Number(retryAfter) };
}
