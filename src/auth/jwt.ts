/**
 * Access tokens (docs/tokens.md#access-tokens): RS256 JWTs with `typ: at+jwt` (RFC 9068) and
 * a `kid`. Verification is pinned: RS256 only (no `none`, no HS/RS key
 * confusion, RFC 8725 §3.1), keys only from our own key ring by `kid` (never
 * from `jwk`/`jku`/`x5u` headers, §3.10), issuer and type always checked,
 * unknown `crit` refused, `exp` strict (a token is dead at `exp`), and only
 * the canonical spelling of a token accepted (see `compact-jws.ts`).
 */
import { SignJWT, errors, jwtVerify, type CryptoKey, type JWTPayload } from 'jose';
import { isCanonicalCompactJws } from './compact-jws';

export const ACCESS_TOKEN_TYPE = 'at+jwt';
export const SIGNING_ALGORITHM = 'RS256';
/** A token whose `iat` is further in the future than this is refused (clock skew allowance). */
export const MAX_CLOCK_SKEW_SECONDS = 60;

export interface AccessTokenClaims extends JWTPayload {
  iss: string;
  sub: string;
  aud: string;
  app_id: string;
  app: string;
  roles?: string[];
  permissions: string[];
  client_id?: string;
  iat: number;
  exp: number;
  jti: string;
  /** The app's cut-off count at issuance (README.md#revocation-cut-offs); absent in tokens of older builds. */
  app_epoch?: number;
  /** The user's cut-off count at issuance; absent for service tokens and tokens of older builds. */
  sub_epoch?: number;
}

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
}

/** Signs `claims` (which must already carry iat, exp and jti) with the active key. */
export async function signAccessToken(claims: AccessTokenClaims, key: SigningKey): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: key.kid, typ: ACCESS_TOKEN_TYPE }).sign(key.privateKey);
}

/** Looks a verification key up by `kid` in our own key ring; null when unknown. */
export type KeyLookup = (kid: string) => Promise<CryptoKey | null>;

export class InvalidTokenError extends Error {
  constructor(readonly reason: string) {
    super(`invalid token: ${reason}`);
    this.name = 'InvalidTokenError';
  }
}

const KID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Verifies an access token and returns its claims, or throws
 * InvalidTokenError. Audience is checked by the caller against the app the
 * token names (one key ring serves every app, so `aud` must equal `app`).
 *
 * The key is looked up from inside jose, once it has parsed the protected
 * header and refused any `alg` but RS256 and any unknown `crit`: the header
 * is decoded once, and a token of the wrong algorithm never costs a key
 * lookup (nor, with an unknown kid, a key-ring reload).
 */
function isEpoch(value: unknown): boolean {
  return value === undefined || (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0);
}

export async function verifyAccessToken(token: string, options: { issuer: string; keys: KeyLookup; now: number }): Promise<AccessTokenClaims> {
  // One spelling per token: no padding, whitespace or spare bits in any segment.
  if (token.length > 8192 || !isCanonicalCompactJws(token)) throw new InvalidTokenError('malformed');
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(
      token,
      async ({ kid }) => {
        // The kid is only ever a map key, and a sane one: no path, no SQL, no 10 KB strings.
        if (typeof kid !== 'string' || !KID.test(kid)) throw new InvalidTokenError('kid');
        const key = await options.keys(kid);
        if (!key) throw new InvalidTokenError('unknown_kid');
        return key;
      },
      {
        algorithms: [SIGNING_ALGORITHM],
        issuer: options.issuer,
        typ: ACCESS_TOKEN_TYPE,
        currentDate: new Date(options.now),
        clockTolerance: 0,
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti'],
      },
    ));
  } catch (err) {
    if (err instanceof InvalidTokenError) throw err;
    if (err instanceof errors.JOSEError) throw new InvalidTokenError(err.code);
    throw err;
  }
  const claims = payload as Partial<AccessTokenClaims>;
  const nowSeconds = Math.floor(options.now / 1000);
  if (typeof claims.iat !== 'number' || claims.iat > nowSeconds + MAX_CLOCK_SKEW_SECONDS) throw new InvalidTokenError('iat');
  if (typeof claims.aud !== 'string' || typeof claims.app !== 'string' || claims.aud !== claims.app) throw new InvalidTokenError('aud');
  if (typeof claims.app_id !== 'string' || typeof claims.sub !== 'string' || typeof claims.jti !== 'string') throw new InvalidTokenError('claims');
  if (!Array.isArray(claims.permissions) || !claims.permissions.every((p) => typeof p === 'string')) throw new InvalidTokenError('claims');
  if (!isEpoch(claims.app_epoch) || !isEpoch(claims.sub_epoch)) throw new InvalidTokenError('claims');
  return claims as AccessTokenClaims;
}
