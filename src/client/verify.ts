/**
 * Verify Heimdall access tokens where your code runs: Workers, Node, Deno,
 * Bun. Depends on `jose` only.
 *
 * Verification is pinned exactly as Heimdall's own `/v1/authorize` pins it:
 * RS256 only, keys only from Heimdall's JWKS by `kid` (never from token
 * headers), issuer, audience (your app, and only it), type `at+jwt`, expiry
 * with a small optional tolerance, and the canonical spelling of the token.
 * The JWKS is cached per isolate or process; a token with an unknown `kid`
 * triggers one refetch (after a cooldown), so key rotation needs no restart.
 * With the revocation feed enabled, tokens of deactivated users, revoked
 * credentials and archived apps are refused within the poll interval,
 * without a call to Heimdall per request.
 */
import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { isCanonicalCompactJws } from '../auth/compact-jws';
import { ACCESS_TOKEN_TYPE, SIGNING_ALGORITHM, type AccessTokenClaims } from '../auth/jwt';
import { RevocationPoller, type RevocationOptions } from './revocations';

/** The claims of a Heimdall access token (see the README's "Token claims"). */
export type HeimdallClaims = AccessTokenClaims;

export interface HeimdallVerifierOptions {
  /** Heimdall's issuer: its public base URL, such as `https://api.productcraft.co/heimdall`. */
  issuer: string;
  /** Your app's name: the tokens' audience. */
  app: string;
  /** The JWKS; default `<issuer>/v1/.well-known/jwks.json` (set it when `ISSUER` is not the public base). */
  jwksUrl?: string;
  /** Seconds of clock skew tolerated on `exp`/`nbf`/`iat`; default 0, at most 60. */
  clockToleranceSeconds?: number;
  /** Minimum time between two JWKS fetches (also after an unknown `kid`); default 30 s. */
  jwksCooldownMs?: number;
  /**
   * The revocation feed (`<issuer>/v1/apps/<app>/revocations`), polled in
   * the background; `false` turns it off (then only expiry ends a token).
   */
  revocations?: false | RevocationOptions;
  /** fetch to use (tests, custom runtimes); default the global fetch. */
  fetch?: typeof fetch;
}

export type HeimdallErrorCode = 'invalid_token' | 'expired' | 'revoked';

/** Why a token was refused. The message never echoes the token. */
export class HeimdallTokenError extends Error {
  constructor(readonly code: HeimdallErrorCode, message: string) {
    super(message);
    this.name = 'HeimdallTokenError';
  }
}

export interface HeimdallVerifier {
  verify(token: string): Promise<HeimdallClaims>;
  /** Stops background work (the revocation poller). */
  close(): void;
}

function checkOptions(options: HeimdallVerifierOptions): Required<Pick<HeimdallVerifierOptions, 'clockToleranceSeconds' | 'jwksCooldownMs'>> & { jwksUrl: URL; issuer: string } {
  if (typeof options.issuer !== 'string' || !/^https?:\/\//.test(options.issuer)) throw new TypeError('heimdall: issuer must be an http(s) URL');
  if (typeof options.app !== 'string' || !/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(options.app)) throw new TypeError('heimdall: app must be an app name');
  const clockToleranceSeconds = options.clockToleranceSeconds ?? 0;
  if (!Number.isInteger(clockToleranceSeconds) || clockToleranceSeconds < 0 || clockToleranceSeconds > 60) {
    throw new TypeError('heimdall: clockToleranceSeconds must be an integer from 0 to 60');
  }
  const jwksCooldownMs = options.jwksCooldownMs ?? 30_000;
  if (!Number.isFinite(jwksCooldownMs) || jwksCooldownMs < 0) throw new TypeError('heimdall: jwksCooldownMs must be >= 0');
  const issuer = options.issuer.replace(/\/+$/, '');
  return { clockToleranceSeconds, jwksCooldownMs, issuer, jwksUrl: new URL(options.jwksUrl ?? `${issuer}/v1/.well-known/jwks.json`) };
}

/** Builds a verifier; build it once (per isolate or process) and reuse it, so its caches work. */
export function createHeimdallVerifier(options: HeimdallVerifierOptions): HeimdallVerifier {
  const checked = checkOptions(options);
  const fetcher = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const keys: JWTVerifyGetKey = createRemoteJWKSet(checked.jwksUrl, {
    cooldownDuration: checked.jwksCooldownMs,
    [customFetch]: (url: string, init: RequestInit) => fetcher(url, init),
  });
  const revocations = options.revocations === false
    ? null
    : new RevocationPoller({ url: `${checked.issuer}/v1/apps/${options.app}/revocations`, fetch: fetcher, ...options.revocations });

  return {
    async verify(token: string): Promise<HeimdallClaims> {
      // The canonical spelling only, as the server checks it: a token cannot be presented in other spellings.
      if (typeof token !== 'string' || token.length > 16_384 || !isCanonicalCompactJws(token)) throw new HeimdallTokenError('invalid_token', 'malformed token');
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys, {
          algorithms: [SIGNING_ALGORITHM],
          issuer: checked.issuer,
          audience: options.app,
          typ: ACCESS_TOKEN_TYPE,
          clockTolerance: checked.clockToleranceSeconds,
          requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti'],
        }));
      } catch (err) {
        if (err instanceof errors.JWTExpired) throw new HeimdallTokenError('expired', 'token expired');
        if (err instanceof errors.JOSEError) throw new HeimdallTokenError('invalid_token', `token refused (${err.code})`);
        throw err;
      }
      const claims = payload as unknown as HeimdallClaims;
      // As the server: one audience, a string (jose alone would accept a list holding it).
      if (typeof claims.aud !== 'string' || claims.app !== options.app || typeof claims.app_id !== 'string' || !Array.isArray(claims.permissions)) {
        throw new HeimdallTokenError('invalid_token', 'token refused (claims)');
      }
      if (claims.iat > Math.floor(Date.now() / 1000) + Math.max(checked.clockToleranceSeconds, 60)) {
        throw new HeimdallTokenError('invalid_token', 'token refused (iat)');
      }
      if (revocations && (await revocations.isRevoked(claims))) throw new HeimdallTokenError('revoked', 'token revoked');
      return claims;
    },
    close() {
      revocations?.close();
    },
  };
}

const defaultFetch = () => undefined;
const verifiers = new WeakMap<object, Map<string, HeimdallVerifier>>();

/**
 * Verifies a token with a verifier cached per option set (and per fetch
 * function), so the JWKS and the revocation feed are fetched once, not per
 * call. Throws HeimdallTokenError when the token must be refused.
 */
export async function verifyHeimdallToken(token: string, options: HeimdallVerifierOptions): Promise<HeimdallClaims> {
  const scope = options.fetch ?? defaultFetch;
  let byOptions = verifiers.get(scope);
  if (!byOptions) {
    byOptions = new Map();
    verifiers.set(scope, byOptions);
  }
  const key = JSON.stringify([options.issuer, options.app, options.jwksUrl, options.clockToleranceSeconds, options.jwksCooldownMs, options.revocations]);
  let verifier = byOptions.get(key);
  if (!verifier) {
    verifier = createHeimdallVerifier(options);
    byOptions.set(key, verifier);
  }
  return verifier.verify(token);
}
