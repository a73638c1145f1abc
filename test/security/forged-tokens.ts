/**
 * Tokens that must never verify (docs/security-decisions.md#forged-and-confused-tokens, RFC 8725, RFC 9068), built
 * from one genuine access token, for every verifier of Heimdall tokens: the
 * server's `/v1/authorize` and the edge SDK.
 *
 * Each forgery says whether an edge verifier, which holds the JWKS but no
 * state, must refuse it too: everything but a forgery signed with Heimdall's
 * own key whose only fault is a subject the database does not know.
 */
import { env } from 'cloudflare:test';
import { SignJWT, base64url, decodeJwt, decodeProtectedHeader, exportJWK, exportSPKI, generateKeyPair, importJWK, type JWTPayload } from 'jose';
import { sealingKey, unsealSigningKey } from '../../src/auth/signing-keys';
import { BASE, api } from '../helpers';

export interface ForgedToken {
  name: string;
  token: string;
  /** An edge verifier (keys and claims, no state) must refuse it too. */
  edge: boolean;
}

export interface Genuine {
  /** A genuine access token of `app`. */
  token: string;
  /** Another app of the same Heimdall. */
  other: { id: string; name: string };
  /** Other secrets of the app, presented where an access token is expected. */
  refreshToken: string;
  inviteToken: string;
  clientSecret: string;
  adminKey: string;
}

/** The attacker's host: nothing may ever be fetched from it. */
export const EVIL_HOST = 'evil.example';

function encode(part: object): string {
  return base64url.encode(JSON.stringify(part));
}

/** Header and payload as given, with `signature` (default none). */
function rawToken(header: object, payload: object, signature = ''): string {
  return `${encode(header)}.${encode(payload)}.${signature}`;
}

/**
 * Signs with Heimdall's own active key, byte for byte, so headers jose would
 * refuse to produce (an unknown `crit`, a numeric `kid`) can be made: for
 * claims and headers that a valid signature must not rescue.
 */
async function forge(claims: JWTPayload | string, header: Record<string, unknown> = {}): Promise<string> {
  const row = await env.DB.prepare("SELECT kid, private_jwk_sealed AS sealed FROM signing_keys WHERE status = 'active'").first<{ kid: string; sealed: string }>();
  const key = await unsealSigningKey(row!.sealed, row!.kid, await sealingKey(env));
  // A string is the payload segment as is (for payloads that are not JSON).
  const payload = typeof claims === 'string' ? claims : encode(claims);
  const input = `${encode({ alg: 'RS256', kid: row!.kid, typ: 'at+jwt', ...header })}.${payload}`;
  const signature = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', key, new TextEncoder().encode(input));
  return `${input}.${base64url.encode(new Uint8Array(signature))}`;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The same bytes in another spelling: the last character's unused low bits set. */
function nonCanonical(segment: string): string {
  const last = ALPHABET.indexOf(segment.at(-1)!);
  return `${segment.slice(0, -1)}${ALPHABET[last | 1] === segment.at(-1) ? ALPHABET[last & ~1] : ALPHABET[last | 1]}`;
}

export async function forgedTokens(genuine: Genuine): Promise<ForgedToken[]> {
  const { token, other } = genuine;
  const header = decodeProtectedHeader(token);
  const kid = header.kid!;
  const claims = decodeJwt(token);
  const [h, p, s] = token.split('.') as [string, string, string];
  const now = Math.floor(Date.now() / 1000);
  const attacker = await generateKeyPair('RS256', { extractable: true });
  const attackerJwk = await exportJWK(attacker.publicKey);
  const jwks = (await api('GET', '/v1/.well-known/jwks.json', { key: null })).body;
  const publicJwk = jwks.keys.find((k: { kid: string }) => k.kid === kid);
  const realPublic = (await importJWK(publicJwk, 'RS256')) as CryptoKey;
  const pem = await exportSPKI(realPublic);
  const der = new Uint8Array((await crypto.subtle.exportKey('spki', realPublic)) as ArrayBuffer);
  const hmac = (alg: string, secret: Uint8Array) => new SignJWT(claims).setProtectedHeader({ alg, kid, typ: 'at+jwt' }).sign(secret);
  const bytes = (text: string) => new TextEncoder().encode(text);
  const signedBy = async (alg: string, extra: Record<string, unknown> = {}) =>
    new SignJWT(claims).setProtectedHeader({ alg, kid, typ: 'at+jwt', ...extra }).sign((await generateKeyPair(alg)).privateKey);
  const evil = `https://${EVIL_HOST}`;

  const both: Record<string, string> = {
    // alg none, in any case, with and without typ, signature or trailing dot (C1).
    'alg none': rawToken({ alg: 'none', typ: 'at+jwt', kid }, claims),
    'alg None': rawToken({ alg: 'None', typ: 'at+jwt', kid }, claims),
    'alg NONE with the original signature': rawToken({ alg: 'NONE', typ: 'at+jwt', kid }, claims, s),
    'alg nOnE, no trailing dot': rawToken({ alg: 'nOnE', typ: 'at+jwt', kid }, claims).slice(0, -1),
    'alg none, typ JWT': rawToken({ alg: 'none', typ: 'JWT' }, claims),
    'alg none, no typ, no kid': rawToken({ alg: 'none' }, claims),
    'alg none, typ at+jwt in upper case': rawToken({ alg: 'none', typ: 'AT+JWT', kid }, claims),
    'alg empty': rawToken({ alg: '', typ: 'at+jwt', kid }, claims, s),
    'no alg': rawToken({ typ: 'at+jwt', kid }, claims, s),
    // HS/RS confusion: an HMAC keyed with the public key in every form (C2).
    'HS256 keyed with the PEM public key': await hmac('HS256', bytes(pem)),
    'HS256 keyed with the PEM public key and a leading newline': await hmac('HS256', bytes(`\n${pem}`)),
    'HS256 keyed with the PEM public key and a leading space': await hmac('HS256', bytes(` ${pem}`)),
    'HS256 keyed with the DER public key': await hmac('HS256', der),
    'HS256 keyed with the JWK': await hmac('HS256', bytes(JSON.stringify(publicJwk))),
    'HS256 keyed with the JWKS document': await hmac('HS256', bytes(JSON.stringify(jwks))),
    'HS256 keyed with the raw modulus': await hmac('HS256', base64url.decode(publicJwk.n)),
    'HS384 keyed with the PEM public key': await hmac('HS384', bytes(pem)),
    'HS512 keyed with the PEM public key': await hmac('HS512', bytes(pem)),
    // Key material the token brings itself, and other algorithms under the real kid (C3).
    'unknown kid': await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'unknown-kid', typ: 'at+jwt' }).sign(attacker.privateKey),
    'kid path traversal': await forge(claims, { kid: '../../etc/passwd' }),
    'kid SQL': await forge(claims, { kid: "' OR '1'='1" }),
    'kid 10 KB': await forge(claims, { kid: 'k'.repeat(10_000) }),
    'kid a number': await forge(claims, { kid: 7 }),
    'kid null': await forge(claims, { kid: null }),
    'embedded jwk with the real kid': await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, typ: 'at+jwt', jwk: attackerJwk }).sign(attacker.privateKey),
    'embedded jwk without a kid': await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', jwk: attackerJwk }).sign(attacker.privateKey),
    'jku pointing elsewhere': await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'evil', typ: 'at+jwt', jku: `${evil}/jwks.json` }).sign(attacker.privateKey),
    'jku pointing elsewhere, real kid': await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, typ: 'at+jwt', jku: `${evil}/jwks.json` }).sign(attacker.privateKey),
    'x5u pointing elsewhere': await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'evil', typ: 'at+jwt', x5u: `${evil}/cert.pem` }).sign(attacker.privateKey),
    'RS512 under the real kid': await signedBy('RS512'),
    'PS256 under the real kid': await signedBy('PS256'),
    'ES256 under the real kid': await signedBy('ES256'),
    'alg rs256 in lower case, real key': await forge(claims, { alg: 'rs256' }),
    'another issuer\'s RS256 token': await new SignJWT({ ...claims, iss: evil }).setProtectedHeader({ alg: 'RS256', kid: 'evil', typ: 'at+jwt' }).sign(attacker.privateKey),
    // Tampering and encodings (C7).
    'tampered sub': `${h}.${encode({ ...claims, sub: 'usr_01M8GCYKQVBFWM07Q9RW99N439' })}.${s}`,
    'tampered permissions': `${h}.${encode({ ...claims, permissions: ['*'] })}.${s}`,
    'tampered app': `${h}.${encode({ ...claims, app: other.name, aud: other.name, app_id: other.id })}.${s}`,
    'unknown crit': await forge(claims, { crit: ['x-heimdall'], 'x-heimdall': 1 }),
    'crit b64 false': await forge(claims, { crit: ['b64'], b64: false }),
    'JWE-shaped': `${h}.${p}.${s}.x.y`,
    'JSON-serialised JWS': JSON.stringify({ protected: h, payload: p, signature: s }),
    'padded header': `${h}=.${p}.${s}`,
    'signature padded with ==': `${token}==`,
    'signature with a space inside': `${h}.${p}.${s.slice(0, 8)} ${s.slice(8)}`,
    'signature with a line break inside': `${h}.${p}.${s.slice(0, 8)}\n${s.slice(8)}`,
    'signature in base64, not base64url': `${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}${/[-_]/.test(s) ? '' : '+'}`,
    'signature with a non-canonical last character': `${h}.${p}.${nonCanonical(s)}`,
    'header not JSON': `${base64url.encode('not json')}.${p}.${s}`,
    'payload not JSON': await forge(base64url.encode('{"sub": ')),
    'payload a JSON list': await forge(base64url.encode('[1, 2]')),
    // Type (C6, RFC 9068 §4).
    'typ JWT': await forge(claims, { typ: 'JWT' }),
    'no typ': await forge(claims, { typ: undefined }),
    'typ of an ID token': await forge(claims, { typ: 'id_token+jwt' }),
    // Issuer and audience (C5).
    'wrong iss': await forge({ ...claims, iss: evil }),
    'iss with a trailing slash': await forge({ ...claims, iss: `${BASE}/` }),
    'no iss': await forge({ ...claims, iss: undefined }),
    'aud of another app': await forge({ ...claims, aud: other.name }),
    'generic aud': await forge({ ...claims, aud: 'heimdall' }),
    'no aud': await forge({ ...claims, aud: undefined }),
    'aud a list holding the app': await forge({ ...claims, aud: [claims.aud as string, other.name] }),
    'sub of another app\'s subject': await forge({ ...claims, app_id: other.id, app: other.name, aud: other.name }),
    // Time (C4).
    'expired': await forge({ ...claims, iat: now - 7200, exp: now - 3600 }),
    'exp now': await forge({ ...claims, exp: now }),
    'no exp': await forge({ ...claims, exp: undefined }),
    'exp a string': await forge({ ...claims, exp: String(now + 3600) as unknown as number }),
    'nbf in five minutes': await forge({ ...claims, nbf: now + 300 }),
    'iat far in the future': await forge({ ...claims, iat: now + 3600, exp: now + 7200 }),
    'no iat': await forge({ ...claims, iat: undefined }),
    // Claims Heimdall always sets.
    'no jti': await forge({ ...claims, jti: undefined }),
    'no sub': await forge({ ...claims, sub: undefined }),
    'no app_id': await forge({ ...claims, app_id: undefined }),
    'permissions not a list': await forge({ ...claims, permissions: '*' }),
    // Other secrets where an access token is expected (C6).
    'a refresh token': genuine.refreshToken,
    'an invite token': genuine.inviteToken,
    'a client secret': genuine.clientSecret,
    'an admin key': genuine.adminKey,
    'not a JWT': 'hello',
    'empty segments': '..',
  };
  // Signed by Heimdall's key and well-formed: only the server's state can refuse it.
  const serverOnly: Record<string, string> = {
    'a subject that does not exist': await forge({ ...claims, sub: claims.sub!.startsWith('cred_') ? 'cred_01M8GCYKQVBFWM07Q9RW99N439' : 'usr_01M8GCYKQVBFWM07Q9RW99N439' }),
    'a user-looking sub on a service token, or the reverse': await forge({ ...claims, sub: claims.sub!.startsWith('cred_') ? 'usr_01M8GCYKQVBFWM07Q9RW99N439' : 'cred_01M8GCYKQVBFWM07Q9RW99N439' }),
  };
  return [
    ...Object.entries(both).map(([name, forged]) => ({ name, token: forged, edge: true })),
    ...Object.entries(serverOnly).map(([name, forged]) => ({ name, token: forged, edge: false })),
  ];
}
