/**
 * Failed-login throttling around a credential check: per app and email (so
 * rotating IPs does not help an attacker) and per client IP (so spraying many
 * emails from one address does not either). Both counters live in Durable
 * Objects; if they cannot be reached, the login fails closed (503).
 */
import { accountPolicy, ipPolicy, type AttemptOutcome, type ThrottlePolicy } from '../auth/login-throttle';
import type { LoginThrottle } from '../durable-objects/login-throttle';
import { config, type Env } from '../env';
import { ApiError, unavailable, unavailableOnFailure } from '../lib/errors';

interface Counter {
  stub: DurableObjectStub<LoginThrottle>;
  policy: ThrottlePolicy;
  reservationId: string | null;
}

export interface LoginAttempt {
  /** Reports the outcome; returns when the account is locked until (0 if not). */
  finish(outcome: AttemptOutcome): Promise<number>;
}

/** Reserves an attempt on both counters, or throws 429 with Retry-After. */
export async function beginLoginAttempt(env: Env, appId: string, email: string, ip: string, now: number): Promise<LoginAttempt> {
  const max = config(env).loginMaxFailures;
  const counters: Counter[] = [
    { stub: env.LOGIN_THROTTLE.get(env.LOGIN_THROTTLE.idFromName(`acct:${appId}:${email}`)), policy: accountPolicy(max), reservationId: null },
    { stub: env.LOGIN_THROTTLE.get(env.LOGIN_THROTTLE.idFromName(`ip:${ip}`)), policy: ipPolicy(max), reservationId: null },
  ];
  const results = await unavailableOnFailure(() => Promise.all(counters.map((c) => c.stub.begin(c.policy, now))));
  results.forEach((r, i) => {
    counters[i]!.reservationId = r.reservationId;
  });
  const finish = async (outcome: AttemptOutcome): Promise<number> => {
    try {
      const done = await Promise.all(
        counters.filter((c) => c.reservationId).map((c) => c.stub.finish(c.policy, now, c.reservationId!, outcome)),
      );
      return done[0]?.lockedUntil ?? 0;
    } catch (err) {
      throw unavailable(err);
    }
  };
  const refused = results.filter((r) => !r.allowed);
  if (refused.length > 0) {
    await finish('cancelled');
    const retryAfter = Math.max(1, Math.ceil(Math.max(...refused.map((r) => r.retryAfterMs)) / 1000));
    throw new ApiError('RATE_LIMITED', 'too many failed logins; retry later', { headers: { 'Retry-After': String(retryAfter) } });
  }
  return { finish };
}
