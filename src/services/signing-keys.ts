/**
 * The signing key ring: lifecycle in D1 (`next` -> `active` -> `retired`),
 * and a per-isolate cache so signing, verifying and serving the JWKS touch
 * D1 at most once a minute on a warm isolate.
 *
 * Rotation promotes `next` (published in the JWKS since the previous
 * rotation) to `active`, retires the old active key, and creates a new
 * `next`. A retired key stays published until every token it can have signed
 * has expired: its last signature is at most two cache periods after the
 * rotation (other isolates still hold it), plus the token lifetime.
 */
import { and, asc, eq, lt, or, sql } from 'drizzle-orm';
import type { CryptoKey } from 'jose';
import type { SigningKey } from '../auth/jwt';
import {
  generateSigningKey,
  importVerificationKey,
  sealingKey,
  sealPrivateKey,
  UnsealError,
  unsealSigningKey,
  type PublicJwk,
} from '../auth/signing-keys';
import type { Db } from '../db/client';
import { guard, isGuardFailure } from '../db/guard';
import { signingKeys, type SigningKeyRow } from '../db/schema';
import { config, type Env } from '../env';
import { conflict } from '../lib/errors';
import { auditEntry, type Actor } from './audit';

/** How long an isolate trusts its cached copy of the key ring (and at most twice that while refreshing). */
export const KEY_RING_TTL_MS = 60_000;
/** After an unknown kid, the ring is re-read at most this often (a kid flood cannot hammer D1). */
const UNKNOWN_KID_RELOAD_MS = 5_000;
/** Margin for clock skew and in-flight requests when a retired key leaves the JWKS. */
const RETIREMENT_MARGIN_MS = 5 * 60_000;

export type KeyView = Omit<SigningKeyRow, 'privateJwkSealed'>;

interface KeyRing {
  loadedAt: number;
  keys: KeyView[];
  active: (KeyView & { sealed: string }) | null;
  /** `{"keys": [...]}` of every key that can still verify a live token. */
  jwks: string;
  verifiers: Map<string, Promise<CryptoKey>>;
}

let ring: KeyRing | undefined;
let loading: Promise<KeyRing> | undefined;
let lastUnknownKidReload = 0;
/** The active private key, unsealed once per isolate; valid for that kid under that sealing key only. */
let signer: { kid: string; sealedWith: CryptoKey; key: Promise<CryptoKey> } | undefined;

function publishable(row: KeyView, now: number): boolean {
  return row.status !== 'retired' || (row.expiresAt ?? 0) > now;
}

async function readRing(db: Db, now: number): Promise<KeyRing> {
  const rows = await db.select().from(signingKeys).orderBy(asc(signingKeys.createdAt));
  const live = rows.filter((r) => publishable(r, now));
  const order = { active: 0, next: 1, retired: 2 } as const;
  live.sort((a, b) => order[a.status] - order[b.status] || b.createdAt - a.createdAt);
  const active = rows.find((r) => r.status === 'active');
  const keys = rows.map(({ privateJwkSealed: _sealed, ...view }) => view);
  return {
    loadedAt: now,
    keys,
    active: active ? { ...keys.find((k) => k.kid === active.kid)!, sealed: active.privateJwkSealed } : null,
    jwks: JSON.stringify({ keys: live.map((r) => JSON.parse(r.publicJwk) as PublicJwk) }),
    verifiers: new Map(live.map((r) => [r.kid, importVerificationKey(JSON.parse(r.publicJwk) as PublicJwk)])),
  };
}

/** Loads the ring, sharing one read among concurrent callers of this isolate. */
function reload(db: Db, now: number): Promise<KeyRing> {
  loading ??= readRing(db, now)
    .then((fresh) => {
      ring = fresh;
      return fresh;
    })
    .finally(() => {
      loading = undefined;
    });
  return loading;
}

export type WaitUntil = (promise: Promise<unknown>) => void;

/**
 * The cached ring. Younger than the TTL: used as is. Up to twice the TTL:
 * used while a background re-read refreshes it (so a warm isolate never
 * waits for D1). Older: re-read first.
 */
export async function keyRing(db: Db, now: number, waitUntil?: WaitUntil): Promise<KeyRing> {
  if (ring) {
    const age = now - ring.loadedAt;
    if (age < KEY_RING_TTL_MS) return ring;
    if (age < 2 * KEY_RING_TTL_MS && waitUntil) {
      waitUntil(reload(db, now).catch(() => undefined));
      return ring;
    }
  }
  return reload(db, now);
}

/** Forgets the cached ring (after a rotation in this isolate). */
export function invalidateKeyRing(): void {
  ring = undefined;
  signer = undefined;
}

/** The public key for `kid`, or null. An unknown kid re-reads the ring, at most every few seconds. */
export async function verificationKey(db: Db, kid: string, now: number, waitUntil?: WaitUntil): Promise<CryptoKey | null> {
  let current = await keyRing(db, now, waitUntil);
  if (!current.verifiers.has(kid) && now - lastUnknownKidReload >= UNKNOWN_KID_RELOAD_MS) {
    lastUnknownKidReload = now;
    current = await reload(db, now);
  }
  const key = current.verifiers.get(kid);
  return key ? key : null;
}

async function newKeyRow(env: Env, status: 'next' | 'active', now: number) {
  const seal = await sealingKey(env);
  const key = await generateSigningKey();
  return {
    kid: key.kid,
    status,
    publicJwk: JSON.stringify(key.publicJwk),
    privateJwkSealed: await sealPrivateKey(key.privateJwk, key.kid, seal),
    createdAt: now,
    activatedAt: status === 'active' ? now : null,
    retiredAt: null,
    expiresAt: null,
  };
}

/**
 * First use: an active key and a next key. Two isolates bootstrapping at once
 * both insert with ON CONFLICT DO NOTHING; the partial unique index on status
 * keeps exactly one of each.
 */
async function bootstrap(env: Env, db: Db, now: number): Promise<void> {
  const [active, next] = await Promise.all([newKeyRow(env, 'active', now), newKeyRow(env, 'next', now)]);
  await db.batch([
    db.insert(signingKeys).values(active).onConflictDoNothing(),
    db.insert(signingKeys).values(next).onConflictDoNothing(),
  ]);
}

/** The active signing key, imported once per isolate. Creates the first keys if there are none. */
export async function activeSigningKey(env: Env, db: Db, now: number, waitUntil?: WaitUntil): Promise<SigningKey> {
  const seal = await sealingKey(env);
  let current = await keyRing(db, now, waitUntil);
  if (!current.active) {
    await bootstrap(env, db, now);
    current = await reload(db, now);
  }
  try {
    return await unsealActive(current.active!, seal);
  } catch (err) {
    if (!(err instanceof UnsealError)) throw err;
  }
  // The sealing secret changed since this key was sealed: replace it, or use
  // the replacement another isolate made meanwhile.
  const replaced = await replaceUnsealableKeys(env, db, current, now);
  return unsealActive(replaced, seal);
}

async function unsealActive(active: NonNullable<KeyRing['active']>, seal: CryptoKey): Promise<SigningKey> {
  if (signer?.kid !== active.kid || signer.sealedWith !== seal) {
    const key = unsealSigningKey(active.sealed, active.kid, seal);
    // A failed unseal must not be cached: the next request tries again.
    key.catch(() => {
      if (signer?.key === key) signer = undefined;
    });
    signer = { kid: active.kid, sealedWith: seal, key };
  }
  return { kid: active.kid, privateKey: await signer.key };
}

/** Audit actor of the changes Heimdall makes on its own (scheduled rotation, key replacement). */
const SYSTEM_ACTOR: Actor = { id: null, ip: null, userAgent: 'heimdall', requestId: null };

/**
 * Replaces an active key whose private part no longer unseals
 * (docs/configuration.md#changing-the-sealing-key): it is retired like in a
 * rotation, so its public part stays in the JWKS and tokens it signed keep
 * verifying until they expire; the next key, sealed under the same old
 * secret, is retired too (it never signed anything); a fresh active and a
 * fresh next key are sealed under the current secret. Guarded on the active
 * kid, so concurrent isolates replace it once; the others use the winner's.
 */
async function replaceUnsealableKeys(env: Env, db: Db, ring: KeyRing, now: number): Promise<NonNullable<KeyRing['active']>> {
  const unsealable = ring.active!.kid;
  const [active, next] = await Promise.all([newKeyRow(env, 'active', now), newKeyRow(env, 'next', now)]);
  const previousNext = ring.keys.find((k) => k.status === 'next');
  const retireUntil = retirementEnd(env, now);
  try {
    await db.batch([
      guard(db, sql`EXISTS (SELECT 1 FROM signing_keys WHERE kid = ${unsealable} AND status = 'active')`),
      db.update(signingKeys).set({ status: 'retired', retiredAt: now, expiresAt: now }).where(eq(signingKeys.status, 'next')),
      db.update(signingKeys).set({ status: 'retired', retiredAt: now, expiresAt: retireUntil }).where(eq(signingKeys.kid, unsealable)),
      db.insert(signingKeys).values(active),
      db.insert(signingKeys).values(next),
      auditEntry(db, SYSTEM_ACTOR, {
        appId: null,
        action: 'signing_key.rotated',
        targetType: 'signing_key',
        targetId: active.kid,
        metadata: {
          trigger: 'unseal_failed',
          reason: 'the active private key does not unseal with the configured sealing key (HEIMDALL_KEY_ENCRYPTION_KEY or the root key changed)',
          retired_kid: unsealable,
          ...(previousNext ? { discarded_next_kid: previousNext.kid } : {}),
          active_kid: active.kid,
          next_kid: next.kid,
          retired_until: new Date(retireUntil).toISOString(),
        },
      }, now),
    ]);
  } catch (err) {
    if (!isGuardFailure(err)) throw err;
  }
  invalidateKeyRing();
  const fresh = await reload(db, now);
  if (!fresh.active || fresh.active.kid === unsealable) throw new Error('signing key replacement left no usable active key');
  return fresh.active;
}

/** When a key retired now leaves the JWKS: after every token it can have signed has expired. */
function retirementEnd(env: Env, now: number): number {
  return now + 2 * KEY_RING_TTL_MS + config(env).accessTokenTtlSeconds * 1000 + RETIREMENT_MARGIN_MS;
}

/**
 * Rotates: next -> active, active -> retired (published until its tokens have
 * expired), and a new next. Guarded on the keys it read, so two concurrent
 * rotations cannot both apply.
 */
export async function rotateSigningKeys(env: Env, db: Db, actor: Actor, now: number, trigger: 'admin' | 'schedule'): Promise<KeyView[]> {
  let current = await readRing(db, now);
  if (!current.active) {
    await bootstrap(env, db, now);
    current = await readRing(db, now);
  }
  const active = current.active!;
  const next = current.keys.find((k) => k.status === 'next');
  const replacement = await newKeyRow(env, 'next', now);
  const promoted = next ?? (await newKeyRow(env, 'active', now));
  const retireUntil = retirementEnd(env, now);
  try {
    await db.batch([
      guard(db, sql`EXISTS (SELECT 1 FROM signing_keys WHERE kid = ${active.kid} AND status = 'active')`),
      guard(db, next ? sql`EXISTS (SELECT 1 FROM signing_keys WHERE kid = ${next.kid} AND status = 'next')` : sql`1`),
      db.update(signingKeys).set({ status: 'retired', retiredAt: now, expiresAt: retireUntil }).where(eq(signingKeys.kid, active.kid)),
      next
        ? db.update(signingKeys).set({ status: 'active', activatedAt: now }).where(eq(signingKeys.kid, next.kid))
        : db.insert(signingKeys).values({ ...(promoted as typeof replacement), status: 'active', activatedAt: now }),
      db.insert(signingKeys).values(replacement),
      auditEntry(db, actor, {
        appId: null,
        action: 'signing_key.rotated',
        targetType: 'signing_key',
        targetId: promoted.kid,
        metadata: { trigger, retired_kid: active.kid, active_kid: promoted.kid, next_kid: replacement.kid, retired_until: new Date(retireUntil).toISOString() },
      }, now),
    ]);
  } catch (err) {
    if (isGuardFailure(err)) throw conflict('the signing keys changed while rotating; retry');
    throw err;
  }
  invalidateKeyRing();
  // The keys as the batch left them, not read again: once it has committed, a
  // failing read must not turn the rotation into a 503 that invites a retry
  // (which would rotate a second time).
  const { privateJwkSealed: _next, ...nextView } = replacement;
  const { privateJwkSealed: _promoted, ...promotedView } = promoted as typeof replacement;
  const after: KeyView[] = current.keys.map((k) =>
    k.kid === active.kid ? { ...k, status: 'retired', retiredAt: now, expiresAt: retireUntil }
    : k.kid === next?.kid ? { ...k, status: 'active', activatedAt: now }
    : k);
  if (!next) after.push({ ...promotedView, status: 'active', activatedAt: now });
  after.push(nextView);
  return after.sort((a, b) => b.createdAt - a.createdAt);
}

/** Every key, newest first. The first keys are created on the first look, so the list is never empty. */
export async function listSigningKeys(env: Env, db: Db, now: number): Promise<KeyView[]> {
  let current = await readRing(db, now);
  if (!current.active) {
    await bootstrap(env, db, now);
    current = await readRing(db, now);
  }
  return current.keys.sort((a, b) => b.createdAt - a.createdAt);
}

/**
 * The scheduled job: rotates when the active key is older than the
 * configured period, and deletes retired keys no token can need any more.
 */
export async function runScheduledKeyMaintenance(env: Env, db: Db, now: number): Promise<{ rotated: boolean; pruned: number }> {
  const current = await readRing(db, now);
  const ageLimit = config(env).signingKeyRotationDays * 24 * 3600_000;
  let rotated = false;
  if (current.active && now - (current.active.activatedAt ?? current.active.createdAt) >= ageLimit) {
    await rotateSigningKeys(env, db, { ...SYSTEM_ACTOR, userAgent: 'scheduled' }, now, 'schedule');
    rotated = true;
  }
  const pruned = await db
    .delete(signingKeys)
    .where(and(eq(signingKeys.status, 'retired'), or(lt(signingKeys.expiresAt, now), sql`${signingKeys.expiresAt} IS NULL`)))
    .returning({ kid: signingKeys.kid });
  if (pruned.length > 0) invalidateKeyRing();
  return { rotated, pruned: pruned.length };
}
