/**
 * Signing key material: RSA 2048 keys for RS256, their public JWKs, and the
 * sealing of private keys at rest.
 *
 * Heimdall generates its own keys (so it can rotate them on a schedule), so
 * they cannot live in a Worker secret. They are stored in D1 sealed with
 * AES-256-GCM under a key derived (HKDF-SHA-256) from a secret (the optional
 * `HEIMDALL_KEY_ENCRYPTION_KEY`, else the root key), the kid bound as
 * associated data: a dump of D1 alone cannot sign anything, and a sealed key cannot be moved to
 * another kid. Private keys are imported non-extractable and never leave the
 * isolate.
 */
import { base64url, calculateJwkThumbprint, type JWK } from 'jose';
import { rootKey } from '../env';
import { configurationError } from '../lib/errors';

const RSA_PARAMS = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
} as const;

/** The only members a published key has (docs/security-decisions.md#published-signing-keys): never d, p, q, dp, dq, qi. */
export interface PublicJwk {
  kty: 'RSA';
  n: string;
  e: string;
  kid: string;
  alg: 'RS256';
  use: 'sig';
}

export interface GeneratedKey {
  kid: string;
  publicJwk: PublicJwk;
  privateJwk: JWK;
}

/** Shortest `HEIMDALL_KEY_ENCRYPTION_KEY` accepted. */
export const MIN_KEK_SECRET_LENGTH = 32;

/** The secrets a sealing key can come from. */
export interface SealingSecrets {
  HEIMDALL_ROOT_KEY?: string | undefined;
  HEIMDALL_KEY_ENCRYPTION_KEY?: string | undefined;
}

/** A private key that does not unseal with the configured secrets (they changed since it was sealed). */
export class UnsealError extends Error {
  constructor(cause: unknown) {
    super('the private signing key does not unseal with the configured sealing key', { cause });
    this.name = 'UnsealError';
  }
}

export async function generateSigningKey(): Promise<GeneratedKey> {
  const pair = (await crypto.subtle.generateKey(RSA_PARAMS, true, ['sign', 'verify'])) as CryptoKeyPair;
  const privateJwk = (await crypto.subtle.exportKey('jwk', pair.privateKey)) as JWK;
  const exported = (await crypto.subtle.exportKey('jwk', pair.publicKey)) as JWK;
  // RFC 7638 thumbprint: a stable, unique kid derived from the key itself.
  const kid = await calculateJwkThumbprint({ kty: 'RSA', n: exported.n!, e: exported.e! });
  const publicJwk: PublicJwk = { kty: 'RSA', n: exported.n!, e: exported.e!, kid, alg: 'RS256', use: 'sig' };
  return { kid, publicJwk, privateJwk };
}

const sealingKeys = new Map<string, Promise<CryptoKey>>();

function deriveSealingKey(secret: string, info: string): Promise<CryptoKey> {
  const cacheKey = `${info}\n${secret}`;
  let key = sealingKeys.get(cacheKey);
  if (!key) {
    key = (async () => {
      const material = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), 'HKDF', false, ['deriveKey']);
      return crypto.subtle.deriveKey(
        { name: 'HKDF', hash: 'SHA-256', salt: new TextEncoder().encode('heimdall'), info: new TextEncoder().encode(info) },
        material,
        { name: 'AES-GCM', length: 256 },
        false,
        ['encrypt', 'decrypt'],
      );
    })();
    sealingKeys.set(cacheKey, key);
  }
  return key;
}

/**
 * The AES-GCM key that seals private keys (docs/configuration.md#secrets):
 * derived from `HEIMDALL_KEY_ENCRYPTION_KEY` when it is set, else from the
 * root key under a label of its own, so the root key never doubles as the
 * sealing key itself. One object per secret and isolate: callers compare it
 * to know whether the secrets changed.
 */
export function sealingKey(secrets: SealingSecrets): Promise<CryptoKey> {
  const kek = secrets.HEIMDALL_KEY_ENCRYPTION_KEY;
  if (kek !== undefined && kek !== '') {
    if (kek.length < MIN_KEK_SECRET_LENGTH) throw configurationError('HEIMDALL_KEY_ENCRYPTION_KEY', `is shorter than ${MIN_KEK_SECRET_LENGTH} characters`);
    return deriveSealingKey(kek, 'signing-key-seal-v1');
  }
  return deriveSealingKey(rootKey(secrets), 'signing-key-seal-from-root-key-v1');
}

/** Seals a private JWK: base64url(iv || AES-GCM ciphertext), the kid as associated data. */
export async function sealPrivateKey(privateJwk: JWK, kid: string, key: CryptoKey): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plaintext = new TextEncoder().encode(JSON.stringify(privateJwk));
  const ciphertext = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(kid) }, key, plaintext));
  const out = new Uint8Array(iv.length + ciphertext.length);
  out.set(iv);
  out.set(ciphertext, iv.length);
  return base64url.encode(out);
}

/** Unseals and imports a private key for signing only (non-extractable); `UnsealError` when it does not unseal. */
export async function unsealSigningKey(sealed: string, kid: string, key: CryptoKey): Promise<CryptoKey> {
  try {
    const bytes = base64url.decode(sealed);
    const plaintext = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: bytes.slice(0, 12), additionalData: new TextEncoder().encode(kid) },
      key,
      bytes.slice(12),
    );
    const jwk = JSON.parse(new TextDecoder().decode(plaintext)) as JsonWebKey;
    return await crypto.subtle.importKey('jwk', jwk, RSA_PARAMS, false, ['sign']);
  } catch (err) {
    throw new UnsealError(err);
  }
}

/** Imports a public JWK for RS256 verification only. */
export async function importVerificationKey(jwk: PublicJwk): Promise<CryptoKey> {
  return crypto.subtle.importKey('jwk', { kty: jwk.kty, n: jwk.n, e: jwk.e, alg: 'RS256', ext: true }, RSA_PARAMS, false, ['verify']);
}
