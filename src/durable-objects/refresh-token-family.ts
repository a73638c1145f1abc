/**
 * One refresh-token family (one login session). The decisions are the pure
 * functions of `auth/refresh-tokens.ts`; this class only loads and stores
 * state. A Durable Object handles one event at a time and each method below
 * reads and writes storage without awaiting anything else, so two refreshes
 * with the same token can never both win.
 *
 * Named `<app id>:<family id>`: the same family id presented to another app
 * reaches another (empty) object, so a cross-app probe can neither use nor
 * revoke the family.
 */
import { DurableObject } from 'cloudflare:workers';
import {
  REFRESH_ABSOLUTE_MS,
  abortRotation,
  beginRotation,
  commitRotation,
  revoke,
  revokeByToken,
  startFamily,
  type BeginOutcome,
  type FamilyState,
} from '../auth/refresh-tokens';
import type { Env } from '../env';

const STATE = 'state';
const rotatedKey = (hash: string) => `rotated:${hash}`;

export class RefreshTokenFamily extends DurableObject<Env> {
  private async load(): Promise<FamilyState | null> {
    return (await this.ctx.storage.get<FamilyState>(STATE)) ?? null;
  }

  private async wasRotated(hash: string): Promise<boolean> {
    return (await this.ctx.storage.get<number>(rotatedKey(hash))) !== undefined;
  }

  async start(input: { appId: string; userId: string; familyId: string; hash: string; now: number }): Promise<void> {
    const state = startFamily(input);
    await this.ctx.storage.put(STATE, state);
    // Everything is forgotten once no token of the family can be valid any more.
    await this.ctx.storage.setAlarm(state.createdAt + REFRESH_ABSOLUTE_MS);
  }

  async begin(hash: string, now: number): Promise<BeginOutcome> {
    const current = await this.load();
    const { state, outcome } = beginRotation(current, hash, await this.wasRotated(hash), now, crypto.randomUUID());
    if (state && state !== current) await this.ctx.storage.put(STATE, state);
    return outcome;
  }

  async commit(leaseId: string, newHash: string, now: number): Promise<boolean> {
    const { state, rotatedHash } = commitRotation(await this.load(), leaseId, newHash, now);
    if (!state || !rotatedHash) return false;
    await this.ctx.storage.put({ [STATE]: state, [rotatedKey(rotatedHash)]: state.generation - 1 });
    return true;
  }

  async abort(leaseId: string): Promise<void> {
    const current = await this.load();
    const state = abortRotation(current, leaseId);
    if (state && state !== current) await this.ctx.storage.put(STATE, state);
  }

  /** Revokes the family (the user it belongs to can no longer hold it). */
  async revokeFamily(reason: string, now: number): Promise<void> {
    const current = await this.load();
    if (current) await this.ctx.storage.put(STATE, revoke(current, reason, now));
  }

  /** RFC 7009: revokes only for a holder of one of its tokens; says whether it was active. */
  async revokeWithToken(hash: string, now: number): Promise<{ revoked: boolean; userId: string | null }> {
    const current = await this.load();
    const { state, revoked } = revokeByToken(current, hash, await this.wasRotated(hash), now);
    if (state && revoked) await this.ctx.storage.put(STATE, state);
    return { revoked, userId: revoked ? state!.userId : null };
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}
