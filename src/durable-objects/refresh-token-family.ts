/**
 * One refresh-token family (one login session). The decisions are the pure
 * functions of `auth/refresh-tokens.ts`; this class only loads and stores
 * state, through the synchronous SQLite-backed KV API: no method awaits
 * between reading the state and writing it, so two refreshes with the same
 * token can never both act on the same state and both win.
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
  type FamilyStart,
  type BeginOutcome,
  type FamilyState,
} from '../auth/refresh-tokens';
import type { Env } from '../env';

const STATE = 'state';
const rotatedKey = (hash: string) => `rotated:${hash}`;

export class RefreshTokenFamily extends DurableObject<Env> {
  private load(): FamilyState | null {
    return this.ctx.storage.kv.get<FamilyState>(STATE) ?? null;
  }

  private save(state: FamilyState): void {
    this.ctx.storage.kv.put(STATE, state);
  }

  private wasRotated(hash: string): boolean {
    return this.ctx.storage.kv.get<number>(rotatedKey(hash)) !== undefined;
  }

  async start(input: FamilyStart): Promise<void> {
    const state = startFamily(input);
    this.save(state);
    // Everything is forgotten once no token of the family can be valid any more.
    await this.ctx.storage.setAlarm(state.createdAt + REFRESH_ABSOLUTE_MS);
  }

  begin(hash: string, now: number): BeginOutcome {
    const current = this.load();
    const { state, outcome } = beginRotation(current, hash, this.wasRotated(hash), now, crypto.randomUUID());
    if (state && state !== current) this.save(state);
    return outcome;
  }

  commit(leaseId: string, newHash: string, now: number): boolean {
    const { state, rotatedHash } = commitRotation(this.load(), leaseId, newHash, now);
    if (!state || !rotatedHash) return false;
    this.ctx.storage.kv.put(rotatedKey(rotatedHash), state.generation - 1);
    this.save(state);
    return true;
  }

  abort(leaseId: string): void {
    const current = this.load();
    const state = abortRotation(current, leaseId);
    if (state && state !== current) this.save(state);
  }

  /** Revokes the family (the user it belongs to can no longer hold it). */
  revokeFamily(reason: string, now: number): void {
    const current = this.load();
    if (current) this.save(revoke(current, reason, now));
  }

  /** RFC 7009: revokes only for a holder of one of its tokens; says whether it was active. */
  revokeWithToken(hash: string, now: number): { revoked: boolean; userId: string | null } {
    const current = this.load();
    const { state, revoked } = revokeByToken(current, hash, this.wasRotated(hash), now);
    if (state && revoked) this.save(state);
    return { revoked, userId: revoked ? state!.userId : null };
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}
