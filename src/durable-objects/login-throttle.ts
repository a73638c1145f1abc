/**
 * Failed-login counters, one object per key (`acct:<app id>:<email>` or
 * `ip:<address>`). It only stores; `auth/login-throttle.ts` decides. Each
 * method reads, decides and writes without awaiting anything else, so
 * concurrent attempts are counted exactly.
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
  private async load(): Promise<ThrottleState> {
    return (await this.ctx.storage.get<ThrottleState>(STATE)) ?? EMPTY_THROTTLE;
  }

  async begin(policy: ThrottlePolicy, now: number): Promise<{ allowed: boolean; reservationId: string | null; retryAfterMs: number }> {
    const id = crypto.randomUUID();
    const { state, decision } = beginAttempt(await this.load(), policy, now, id);
    await this.ctx.storage.put(STATE, state);
    return decision.allowed ? { allowed: true, reservationId: id, retryAfterMs: 0 } : { allowed: false, reservationId: null, retryAfterMs: decision.retryAfterMs };
  }

  async finish(policy: ThrottlePolicy, now: number, reservationId: string, outcome: AttemptOutcome): Promise<{ lockedUntil: number }> {
    const state = finishAttempt(await this.load(), policy, now, reservationId, outcome);
    await this.ctx.storage.put(STATE, state);
    // Clean up once the key has been quiet long enough to be forgotten.
    await this.ctx.storage.setAlarm(Math.max(now, state.lockedUntil) + policy.forgetAfterMs);
    return { lockedUntil: state.lockedUntil };
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}
