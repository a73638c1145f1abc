/**
 * The Worker's bindings and its typed configuration (docs/configuration.md). Vars are
 * strings in wrangler.toml; `config(env)` parses them once per isolate, with
 * the documented defaults, and refuses a value that makes no sense rather
 * than running with it.
 */
import type { LoginThrottle } from './durable-objects/login-throttle';
import { configurationError } from './lib/errors';
import type { RateLimiter } from './durable-objects/rate-limiter';
import type { RefreshTokenFamily } from './durable-objects/refresh-token-family';

export interface Env {
  DB: D1Database;
  /** One Durable Object per rate-limit bucket (docs/rate-limits.md#leases). */
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  /** One object per refresh-token family, named `<app id>:<family id>`. */
  REFRESH_TOKENS: DurableObjectNamespace<RefreshTokenFamily>;
  /** Failed-login counters, named `acct:<app id>:<email>` or `ip:<address>`. */
  LOGIN_THROTTLE: DurableObjectNamespace<LoginThrottle>;
  /** Secret, the only required one: the root admin key. */
  HEIMDALL_ROOT_KEY?: string;
  /** Optional secret: seals the private signing keys kept in D1 (else a key derived from the root key does). */
  HEIMDALL_KEY_ENCRYPTION_KEY?: string;
  ISSUER?: string;
  PUBLIC_BASE_URL?: string;
  BASE_PATH?: string;
  LOGIN_MAX_FAILURES?: string;
  ACCESS_TOKEN_TTL_SECONDS?: string;
  RATE_LIMIT_ADMIN_PER_MIN?: string;
  RATE_LIMIT_TOKEN_PER_MIN?: string;
  RATE_LIMIT_AUTHORIZE_PER_MIN?: string;
  RATE_LIMIT_WINDOW_SECONDS?: string;
  SIGNING_KEY_ROTATION_DAYS?: string;
}

export interface Config {
  /** Empty: the public base of each request. */
  issuer: string;
  /** Origin such as `https://api.productcraft.co`; empty: the request's origin. */
  publicBaseUrl: string;
  /** Path prefix such as `/heimdall`; empty by default. */
  basePath: string;
  loginMaxFailures: number;
  accessTokenTtlSeconds: number;
  rateLimits: { admin: number; token: number; authorize: number; windowSeconds: number };
  signingKeyRotationDays: number;
}

const cache = new WeakMap<object, Config>();

export function config(env: Env): Config {
  let parsed = cache.get(env);
  if (!parsed) {
    parsed = parseConfig(env);
    cache.set(env, parsed);
  }
  return parsed;
}

function parseConfig(env: Env): Config {
  return {
    issuer: (env.ISSUER ?? '').trim(),
    publicBaseUrl: normalisePublicBaseUrl(env.PUBLIC_BASE_URL ?? ''),
    basePath: normaliseBasePath(env.BASE_PATH ?? ''),
    loginMaxFailures: positiveInt('LOGIN_MAX_FAILURES', env.LOGIN_MAX_FAILURES, 5),
    accessTokenTtlSeconds: positiveInt('ACCESS_TOKEN_TTL_SECONDS', env.ACCESS_TOKEN_TTL_SECONDS, 3600),
    rateLimits: {
      admin: positiveInt('RATE_LIMIT_ADMIN_PER_MIN', env.RATE_LIMIT_ADMIN_PER_MIN, 100),
      token: positiveInt('RATE_LIMIT_TOKEN_PER_MIN', env.RATE_LIMIT_TOKEN_PER_MIN, 300),
      authorize: positiveInt('RATE_LIMIT_AUTHORIZE_PER_MIN', env.RATE_LIMIT_AUTHORIZE_PER_MIN, 1000),
      windowSeconds: positiveInt('RATE_LIMIT_WINDOW_SECONDS', env.RATE_LIMIT_WINDOW_SECONDS, 60),
    },
    signingKeyRotationDays: positiveInt('SIGNING_KEY_ROTATION_DAYS', env.SIGNING_KEY_ROTATION_DAYS, 30),
  };
}

function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) throw configurationError(name, 'must be a positive integer');
  return value;
}

function normaliseBasePath(raw: string): string {
  const trimmed = raw.trim().replace(/\/+$/, '');
  if (trimmed === '') return '';
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(trimmed.startsWith('/') ? trimmed : `/${trimmed}`)) {
    throw configurationError('BASE_PATH', 'must be a path such as /heimdall');
  }
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

/** An origin (`https://host[:port]`, no path, query or user info), or empty. */
function normalisePublicBaseUrl(raw: string): string {
  const trimmed = raw.trim().replace(/\/+$/, '');
  if (trimmed === '') return '';
  let url: URL | undefined;
  try {
    url = new URL(trimmed);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== trimmed) {
    throw configurationError('PUBLIC_BASE_URL', 'must be an origin such as https://api.example.com');
  }
  return url.origin;
}

/** Shortest root key accepted: anything shorter is a placeholder, not a secret. */
export const MIN_ROOT_KEY_LENGTH = 16;

/** The root key (docs/configuration.md#secrets), or a configuration error when it is missing or too short. */
export function rootKey(env: { HEIMDALL_ROOT_KEY?: string | undefined }): string {
  const key = env.HEIMDALL_ROOT_KEY;
  if (!key || key.length < MIN_ROOT_KEY_LENGTH) throw configurationError('HEIMDALL_ROOT_KEY', `is not set or shorter than ${MIN_ROOT_KEY_LENGTH} characters`);
  return key;
}
