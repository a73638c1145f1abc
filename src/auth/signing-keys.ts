/**
 * Signing key material: RSA 2048 keys for RS256, their public JWKs, and the
 * sealing of private keys at rest.
 *
 * Heimdall generates its own keys (so it can rotate them on a schedule), so
 * they cannot live in a Worker secret. They are stored in D1 sealed with
 * AES-256-GCM under a key derived (HKDF-SHA-256) from the
 * `HEIMDALL_KEY_ENCRYPTION_KEY` secret, the kid bound as associated data: a
 * dump of D1 alone cannot sign anything, and a sealed key cannot be moved to
 * another kid. Private keys are imported non-extractable and never leave the
 * isolate.
 */
import { base64url, calculateJwkThumbprint, type JWK } from 'jose';

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

export const MIN_KEK_SECRET_LENGTH = 32;

export class MissingKeyEncryptionKeyError extends Error {
  constructor() {
    super('HEIMDALL_KEY_ENCRYPTION_KEY is missing or shorter than 32 characters');
    this.name = 'MissingKeyEncryptionKeyError';
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

const kekCache = new Map<string, Promise<CryptoKey>>();

function keyEncryptionKey(secret: string | undefined): Promise<CryptoKey> {
  if (!secret || secret.length < MIN_KEK_SECRET_LENGTH) throw new MissingKeyEncryptionKeyError();
  let key = kekCache.get(secret);
  if (!key) {
    key = (async () => {
      const material = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), 'HKDF', false, ['deriveKey']);
      return crypto.subtle.deriveKey(
        { name: 'HKDF', hash: 'SHA-256', salt: new TextEncoder().encode('heimdall'), info: new TextEncoder().encode('signing-key-seal-v1') },
        material,
        { name: 'AES-GCM', length: 256 },
        false,
        ['encrypt', 'decrypt'],
      );
    })();
    kekCache.set(secret, key);
  }
  return key;
}

/** Seals a private JWK: base64url(iv || AES-GCM ciphertext), the kid as associated data. */
export async function sealPrivateKey(privateJwk: JWK, kid: string, secret: string | undefined): Promise<string> {
  const kek = await keyEncryptionKey(secret);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plaintext = new TextEncoder().encode(JSON.stringify(privateJwk));
  const ciphertext = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(kid) }, kek, plaintext));
  const out = new Uint8Array(iv.length + ciphertext.length);
  out.set(iv);
  out.set(ciphertext, iv.length);
  return base64url.encode(out);
}

/** Unseals and imports a private key for signing only (non-extractable). */
export async function unsealSigningKey(sealed: string, kid: string, secret: string | undefined): Promise<CryptoKey> {
  const kek = await keyEncryptionKey(secret);
  const bytes = base64url.decode(sealed);
  const plaintext = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: bytes.slice(0, 12), additionalData: new TextEncoder().encode(kid) },
    kek,
    bytes.slice(12),
  );
  const jwk = JSON.parse(new TextDecoder().decode(plaintext)) as JsonWebKey;
  return crypto.subtle.importKey('jwk', jwk, RSA_PARAMS, false, ['sign']);
}

/** Imports a public JWK for RS256 verification only. */
export async function importVerificationKey(jwk: PublicJwk): Promise<CryptoKey> {
  return crypto.subtle.importKey('jwk', { kty: jwk.kty, n: jwk.n, e: jwk.e, alg: 'RS256', ext: true }, RSA_PARAMS, false, ['verify']);
}
