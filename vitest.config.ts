import path from 'node:path';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

export const TEST_ROOT_KEY = 'test-root-key-0123456789abcdef0123456789abcdef';

/** Limits of the `rate-limits` project: small and distinct, so a header names its group. */
export const SMALL_LIMITS = { admin: 5, token: 6, authorize: 7, windowSeconds: 2 } as const;

const RATE_LIMITS_DIR = 'test/rate-limits';
const ROOT_KEY_ONLY_DIR = 'test/root-key-only';
const NODE_DIR = 'test/node';

/** A deployment's hardening: its own sealing secret and public base URL. */
const HARDENED = {
  HEIMDALL_KEY_ENCRYPTION_KEY: 'dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM',
  PUBLIC_BASE_URL: 'https://heimdall.test',
  TEST_BASE_URL: 'https://heimdall.test',
};

/**
 * Projects, each with its own workerd and bindings:
 * - `main`: every suite, with limits so high they never interfere;
 * - `rate-limits`: the suites under test/rate-limits/, with small limits and
 *   a 2-second window so that exhausting and resetting a bucket is quick;
 * - `root-key-only`: the suites under test/root-key-only/, with the one
 *   required secret and nothing else (wrangler.toml's vars as they ship), as
 *   `wrangler dev --var HEIMDALL_ROOT_KEY:...` runs, on a localhost origin.
 */
export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, 'drizzle'));

  function project(
    name: string,
    include: string[],
    exclude: string[],
    limits: { admin: number; token: number; authorize: number; windowSeconds: number } | null,
    settings: Record<string, string>,
  ) {
    const limitVars: Record<string, string> = limits
      ? {
          RATE_LIMIT_ADMIN_PER_MIN: String(limits.admin),
          RATE_LIMIT_TOKEN_PER_MIN: String(limits.token),
          RATE_LIMIT_AUTHORIZE_PER_MIN: String(limits.authorize),
          RATE_LIMIT_WINDOW_SECONDS: String(limits.windowSeconds),
        }
      : {};
    return {
      plugins: [
        cloudflareTest({
          wrangler: { configPath: './wrangler.toml' },
          miniflare: {
            bindings: {
              TEST_MIGRATIONS: migrations,
              HEIMDALL_ROOT_KEY: TEST_ROOT_KEY,
              ...limitVars,
              ...settings,
            },
          },
        }),
      ],
      test: {
        name,
        include,
        exclude,
        setupFiles: ['./test/setup/apply-migrations.ts', './test/setup/response-hygiene.ts'],
        testTimeout: 30_000,
        hookTimeout: 60_000,
      },
    };
  }

  return {
    test: {
      projects: [
        project(
          'main',
          ['test/**/*.test.ts'],
          [`${RATE_LIMITS_DIR}/**`, `${ROOT_KEY_ONLY_DIR}/**`, `${NODE_DIR}/**`],
          { admin: 1_000_000, token: 1_000_000, authorize: 1_000_000, windowSeconds: 60 },
          HARDENED,
        ),
        project('rate-limits', [`${RATE_LIMITS_DIR}/**/*.test.ts`], [], SMALL_LIMITS, HARDENED),
        project('root-key-only', [`${ROOT_KEY_ONLY_DIR}/**/*.test.ts`], [], null, { TEST_BASE_URL: 'http://localhost:8787' }),
        // Checks that need Node rather than workerd (the OpenAPI validator compiles code at run time).
        { test: { name: 'node', include: [`${NODE_DIR}/**/*.test.ts`], environment: 'node' } },
      ],
    },
  };
});
