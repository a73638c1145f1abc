/**
 * Failed-login counters, one object per key (`acct:<app id>:<email>` or
 * `ip:<address>`). It only stores; `auth/login-throttle.ts` decides. Each
 * method reads, decides and writes through the synchronous SQLite-backed KV
 * API, with no `await` between the read and the write: two concurrent
 * attempts can never both act on the same state. (With the async storage
 * API, a second call can read the state before the first one's write lands.)
 */
import { DurableObject } from 'cloudflare:workers';
import {
  EMPTY_THROTTLE,
  beginAttempt,
  finishAttempt,
  type AttemptOutcome,
  type ThrottlePolicy,
  type ThrottleState,
} from '../auth/login-throttle';
import type { Env } from '../env';

const STATE = 'state';

export class LoginThrottle extends DurableObject<Env> {
  private load(): ThrottleState {
    return this.ctx.storage.kv.get<ThrottleState>(STATE) ?? EMPTY_THROTTLE;
  }

  begin(policy: ThrottlePolicy, now: number): { allowed: boolean; reservationId: string | null; retryAfterMs: number } {
    const id = crypto.randomUUID();
    const { state, decision } = beginAttempt(this.load(), policy, now, id);
    this.ctx.storage.kv.put(STATE, state);
    return decision.allowed ? { allowed: true, reservationId: id, retryAfterMs: 0 } : { allowed: false, reservationId: null, retryAfterMs: decision.retryAfterMs };
  }

  async finish(policy: ThrottlePolicy, now: number, reservationId: string, outcome: AttemptOutcome): Promise<{ lockedUntil: number }> {
    const state = finishAttempt(this.load(), policy, now, reservationId, outcome);
    this.ctx.storage.kv.put(STATE, state);
    // Clean up once the key has been quiet long enough to be forgotten.
    await this.ctx.storage.setAlarm(Math.max(now, state.lockedUntil) + policy.forgetAfterMs);
    return { lockedUntil: state.lockedUntil };
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}
