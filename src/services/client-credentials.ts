/**
 * `grant_type=client_credentials` (RFC 6749 §4.4, docs/tokens.md#client-credentials-grant): a service
 * credential authenticates with its client id and secret and receives an
 * access token for itself: `sub` is the credential, `permissions` are its
 * current ones, and there are no roles and no refresh token (§4.4.3: the
 * client can simply authenticate again).
 *
 * Every failure (an undecodable Basic header, an unknown client id, another
 * app's client, a wrong or expired secret, a revoked credential) is the one
 * 401 INVALID_CREDENTIALS, with `WWW-Authenticate: Basic` when the client
 * used Basic (RFC 6749 §5.2). Only the audit entry says which it was.
 *
 * No per-client throttle, unlike the password grant: a client secret holds
 * 160 random bits, so online guessing is hopeless at any rate, and the token
 * group's limit per app and IP already bounds the traffic. A lockout keyed on
 * the client id would only hand anyone who knows a client id (it is not a
 * secret: it is in every token the service holds) a way to lock that service
 * out.
 */
import type { ClientAuthMethod } from '../auth/client-authentication';
import { fromHex, sha256, timingSafeEqual } from '../auth/secrets';
import type { CredentialRow } from '../db/schema';
import { assertActive } from './apps';
import { auditEntry } from './audit';
import { credentialPermissions, requireAppWithCredential } from './credentials';
import { type GrantContext, type TokenResponse, invalidCredentials, issueAccessToken } from './tokens';

export interface PresentedClient {
  method: ClientAuthMethod;
  /** Null when the client tried Basic but the header could not be decoded. */
  credentials: { clientId: string; clientSecret: string } | null;
}

type Failure = 'malformed_credentials' | 'unknown_client' | 'invalid_secret' | 'revoked';

let dummy: Uint8Array | undefined;

/** A digest no secret has, drawn once per isolate (Workers refuse randomness at global scope). */
function dummyDigest(): Uint8Array {
  dummy ??= crypto.getRandomValues(new Uint8Array(32));
  return dummy;
}

/**
 * Which of the credential's secrets `presented` is: the current one, or the
 * one it replaced while its grace period lasts. Both comparisons always run,
 * constant-time over digests and against a dummy when there is nothing to
 * compare with, so the time taken says nothing about whether the client
 * exists or has a previous secret.
 */
async function matchSecret(presented: string, row: CredentialRow | undefined, now: number): Promise<'current' | 'previous' | null> {
  const digest = await sha256(presented);
  const previousLive = row?.previousSecretHash != null && row.previousSecretExpiresAt !== null && now < row.previousSecretExpiresAt;
  const current = timingSafeEqual(digest, row ? fromHex(row.secretHash) : dummyDigest());
  const previous = timingSafeEqual(digest, previousLive ? fromHex(row.previousSecretHash!) : dummyDigest());
  return current ? 'current' : previous ? 'previous' : null;
}

export async function clientCredentialsGrant(ctx: GrantContext, appName: string, client: PresentedClient): Promise<TokenResponse> {
  const { app, credential: row } = await requireAppWithCredential(ctx.db, appName, client.credentials?.clientId ?? null);
  assertActive(app);
  let secretUsed: 'current' | 'previous' | null = null;
  let failure: Failure | null = 'malformed_credentials';
  if (client.credentials) {
    secretUsed = await matchSecret(client.credentials.clientSecret, row, ctx.now);
    failure = !row ? 'unknown_client' : !secretUsed ? 'invalid_secret' : row.status !== 'active' ? 'revoked' : null;
  }
  if (failure !== null || !row) {
    await auditEntry(ctx.db, ctx.actor, {
      appId: app.id,
      action: 'auth.failed',
      targetType: 'credential',
      targetId: row?.id ?? null,
      actorId: null,
      metadata: { grant_type: 'client_credentials', client_id: client.credentials?.clientId ?? null, auth_method: client.method, reason: failure },
    }, ctx.now);
    throw invalidCredentials(client.method === 'client_secret_basic' ? { 'WWW-Authenticate': 'Basic realm="heimdall"' } : undefined);
  }

  const permissions = credentialPermissions(row);
  const access = await issueAccessToken(ctx, app, { sub: row.id, permissions, clientId: row.clientId });
  // Written before the token is returned: no token leaves without its entry.
  await auditEntry(ctx.db, ctx.actor, {
    appId: app.id,
    action: 'token.issued',
    targetType: 'token',
    targetId: access.jti,
    actorId: row.id,
    // Which secret was used tells an operator, during a grace period, who still holds the old one.
    metadata: { grant_type: 'client_credentials', subject: row.id, client_id: row.clientId, jti: access.jti, permissions, auth_method: client.method, secret_used: secretUsed },
  }, ctx.now);
  return { access_token: access.token, token_type: 'Bearer', expires_in: access.expiresIn };
}
