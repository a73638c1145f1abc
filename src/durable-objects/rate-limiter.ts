/**
 * One rate-limit bucket (docs/rate-limits.md#leases): the single writer of its counter. A
 * Durable Object handles one call at a time, so concurrent lease requests
 * from any number of isolates are serialised here and the window's total can
 * never pass the limit. It only stores; `grantLease` decides.
 *
 * State is one key in the object's SQLite-backed storage, read and written
 * with the synchronous KV API (no await between read and write, so no
 * interleaving even in principle). An alarm at the end of the window deletes
 * it: idle buckets (one per client IP, say) cost nothing afterwards.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../env';
import { grantLease, type BucketState, type LeaseGrant, type RateLimitRule } from '../rate-limit/policy';

const STATE_KEY = 'state';

export class RateLimiter extends DurableObject<Env> {
  /** Leases the next slice of this bucket's window to the calling isolate. */
  async lease(rule: RateLimitRule): Promise<LeaseGrant> {
    const storage = this.ctx.storage;
    const { state, grant, newWindow } = grantLease(storage.kv.get<BucketState>(STATE_KEY), rule, Date.now());
    storage.kv.put(STATE_KEY, state);
    // One alarm per window, at its end; it replaces the previous window's.
    if (newWindow) await storage.setAlarm(state.windowEnd * 1000);
    return grant;
  }

  /**
   * Deletes the counter once its window is over. An alarm that runs early (a
   * retry, a test) must not reset a live window, which would hand its quota
   * out twice: it re-arms itself instead.
   */
  override async alarm(): Promise<void> {
    const storage = this.ctx.storage;
    const state = storage.kv.get<BucketState>(STATE_KEY);
    if (!state) return;
    if (Date.now() < state.windowEnd * 1000) {
      await storage.setAlarm(state.windowEnd * 1000);
      return;
    }
    await storage.deleteAll();
  }
}
