import { describe, expect, it } from 'vitest';
import { EMPTY_THROTTLE, accountPolicy, beginAttempt, finishAttempt, ipPolicy } from '../src/auth/login-throttle';
import {
  REFRESH_ABSOLUTE_MS,
  REFRESH_IDLE_MS,
  REFRESH_LEASE_MS,
  beginRotation,
  commitRotation,
  newRefreshToken,
  parseRefreshToken,
  revokeByToken,
  startFamily,
} from '../src/auth/refresh-tokens';

const T = 1_800_000_000_000;

describe('refresh-token family decisions', () => {
  const fresh = () => startFamily({ appId: 'app_x', userId: 'usr_x', familyId: 'F', hash: 'h1', now: T, appEpoch: 0, userEpoch: 0 });

  it('parses only its own token shape, and carries the family id', () => {
    const token = newRefreshToken('01M8GCYKQVBFWM07Q9RW99N439');
    expect(parseRefreshToken(token)).toEqual({ familyId: '01M8GCYKQVBFWM07Q9RW99N439' });
    for (const bad of ['', 'rt_', `${token}x`, token.toLowerCase(), `xt_${token.slice(3)}`]) expect(parseRefreshToken(bad)).toBeNull();
  });

  it('leases, then rotates; the old token becomes a tombstone', () => {
    const began = beginRotation(fresh(), 'h1', false, T + 1, 'L');
    expect(began.outcome).toEqual({ kind: 'ok', leaseId: 'L', userId: 'usr_x', createdAt: T, appEpoch: 0, userEpoch: 0 });
    const done = commitRotation(began.state, 'L', 'h2', T + 2);
    expect(done.rotatedHash).toBe('h1');
    expect(done.state).toMatchObject({ currentHash: 'h2', generation: 2, lastUsedAt: T + 2, lease: null });
  });

  it('a second begin during the lease loses without revoking; after the lease it may proceed', () => {
    const { state } = beginRotation(fresh(), 'h1', false, T, 'L1');
    expect(beginRotation(state, 'h1', false, T + 1, 'L2').outcome).toEqual({ kind: 'invalid', reason: 'in_flight' });
    expect(beginRotation(state, 'h1', false, T + REFRESH_LEASE_MS, 'L2').outcome.kind).toBe('ok');
    expect(commitRotation(state, 'L1', 'h2', T + REFRESH_LEASE_MS).rotatedHash).toBeNull();
  });

  it('a tombstone presented again revokes the family; an unknown secret does nothing', () => {
    const state = { ...fresh(), currentHash: 'h2' };
    expect(beginRotation(state, 'zz', false, T, 'L').outcome).toEqual({ kind: 'invalid', reason: 'unknown' });
    const reused = beginRotation(state, 'h1', true, T, 'L');
    expect(reused.outcome).toEqual({ kind: 'reused', userId: 'usr_x' });
    expect(reused.state).toMatchObject({ status: 'revoked', revokedReason: 'reuse_detected' });
    expect(beginRotation(reused.state, 'h2', false, T, 'L').outcome).toEqual({ kind: 'invalid', reason: 'revoked' });
  });

  it('expires after the idle and the absolute lifetime', () => {
    expect(beginRotation(fresh(), 'h1', false, T + REFRESH_IDLE_MS, 'L').outcome).toEqual({ kind: 'invalid', reason: 'expired' });
    const busy = { ...fresh(), lastUsedAt: T + REFRESH_ABSOLUTE_MS - 1 };
    expect(beginRotation(busy, 'h1', false, T + REFRESH_ABSOLUTE_MS, 'L').outcome).toEqual({ kind: 'invalid', reason: 'expired' });
  });

  it('revokes by token only for a holder of one of its tokens', () => {
    expect(revokeByToken(fresh(), 'zz', false, T).revoked).toBe(false);
    expect(revokeByToken(fresh(), 'h0', true, T).revoked).toBe(true);
    expect(revokeByToken(fresh(), 'h1', false, T).state).toMatchObject({ status: 'revoked' });
    expect(revokeByToken(null, 'h1', false, T).revoked).toBe(false);
  });
});

describe('login throttle decisions', () => {
  const policy = accountPolicy(3);

  it('counts reservations as failures, so a burst gets at most the allowance', () => {
    let state = EMPTY_THROTTLE;
    const decisions = [];
    for (let i = 0; i < 6; i++) {
      const r = beginAttempt(state, policy, T, `r${i}`);
      state = r.state;
      decisions.push(r.decision.allowed);
    }
    expect(decisions).toEqual([true, true, true, false, false, false]);
  });

  it('locks after the limit with a doubling delay, and never for good', () => {
    let state = EMPTY_THROTTLE;
    for (let i = 0; i < 3; i++) {
      state = beginAttempt(state, policy, T, `r${i}`).state;
      state = finishAttempt(state, policy, T, `r${i}`, 'failure');
    }
    expect(state.lockedUntil).toBe(T + 30_000);
    expect(beginAttempt(state, policy, T + 29_999, 'x').decision).toEqual({ allowed: false, retryAfterMs: 1 });
    state = beginAttempt(state, policy, T + 30_000, 'x').state;
    state = finishAttempt(state, policy, T + 30_000, 'x', 'failure');
    expect(state.lockedUntil).toBe(T + 30_000 + 60_000);
    for (let i = 0; i < 30; i++) state = finishAttempt(state, policy, T, `y${i}`, 'failure');
    expect(state.lockedUntil - T).toBe(15 * 60_000);
  });

  it('forgets after a success (per account) but not per IP', () => {
    let state = finishAttempt(EMPTY_THROTTLE, policy, T, 'a', 'failure');
    expect(finishAttempt(state, policy, T, 'b', 'success').failures).toBe(0);
    state = finishAttempt(EMPTY_THROTTLE, ipPolicy(3), T, 'a', 'failure');
    expect(finishAttempt(state, ipPolicy(3), T, 'b', 'success').failures).toBe(1);
  });

  it('drops reservations that never reported, and forgets old failures', () => {
    const held = beginAttempt(EMPTY_THROTTLE, policy, T, 'r').state;
    expect(beginAttempt(held, policy, T + 30_000, 's').state.reservations.map((r) => r.id)).toEqual(['s']);
    const old = finishAttempt(EMPTY_THROTTLE, policy, T, 'a', 'failure');
    expect(beginAttempt(old, policy, T + policy.forgetAfterMs, 'b').state.failures).toBe(0);
  });
});
