import type { D1Migration } from 'cloudflare:test';
import type { Env as HeimdallEnv } from '../src/env';

declare global {
  namespace Cloudflare {
    interface Env extends HeimdallEnv {
      TEST_MIGRATIONS: D1Migration[];
      /** The origin the suites send requests to. */
      TEST_BASE_URL: string;
    }
  }
}
