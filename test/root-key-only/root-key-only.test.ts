/**
 * Heimdall configured as the documentation says a deployment may be
 * (docs/configuration.md#secrets): the root key and nothing else, the vars of
 * wrangler.toml as shipped (empty PUBLIC_BASE_URL), requests on a localhost
 * origin, as `wrangler dev --var HEIMDALL_ROOT_KEY:...` serves them. Every
 * token path must work: the grants, refresh, the JWKS, authorize, invites and
 * the edge SDK.
 */
import { env } from 'cloudflare:test';
import { createRemoteJWKSet, customFetch, decodeJwt, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { sealingKey, UnsealError, unsealSigningKey } from '../../src/auth/signing-keys';
import { createHeimdallVerifier } from '../../src/client';
import { BILLING, clientCredentials, createCredential } from '../credential-helpers';
import { BASE, PASSWORD, api, authorizeCall, createRole, createUser, issuedOnce, login, seedApp, workerFetch } from '../helpers';

const viaWorker = ((input: RequestInfo | URL, init?: RequestInit) => workerFetch(input as string, init)) as typeof fetch;

async function verifiesWithJose(token: string, appName: string) {
  const jwks = createRemoteJWKSet(new URL(`${BASE}/v1/.well-known/jwks.json`), { [customFetch]: viaWorker });
  return jwtVerify(token, jwks, { algorithms: ['RS256'], issuer: BASE, audience: appName, typ: 'at+jwt' });
}

async function appWithJane() {
  const app = await seedApp();
  await createRole(app.name, { name: 'editor', permissions: ['projects:read'] });
  const user = await createUser(app.name, { email: 'jane@acme.co', password: PASSWORD, role: 'editor' });
  return { app, user };
}

describe('with only HEIMDALL_ROOT_KEY set', () => {
  it('runs without the hardening settings', () => {
    expect(env.HEIMDALL_ROOT_KEY).toBeTruthy();
    expect(env.HEIMDALL_KEY_ENCRYPTION_KEY).toBeUndefined();
    expect(env.PUBLIC_BASE_URL).toBe('');
    expect(BASE).toBe('http://localhost:8787');
  });

  it('issues password-grant tokens that the JWKS, a stock client, /v1/authorize and the edge SDK accept', async () => {
    const { app, user } = await appWithJane();
    const res = await login(app.name, 'jane@acme.co', PASSWORD);
    expect(res.status, res.text).toBe(200);
    const token = res.body.access_token as string;
    expect(decodeJwt(token)).toMatchObject({ iss: BASE, sub: user.id, aud: app.name });

    const jwks = await api('GET', '/v1/.well-known/jwks.json', { key: null });
    expect(jwks.status).toBe(200);
    expect(jwks.body.keys.length).toBeGreaterThan(0);
    await expect(verifiesWithJose(token, app.name)).resolves.toBeTruthy();

    const allowed = await authorizeCall({ token, permission: 'projects:read' });
    expect(allowed.status, allowed.text).toBe(200);
    expect(allowed.body).toMatchObject({ allowed: true, subject: user.id, roles: ['editor'] });

    const verifier = createHeimdallVerifier({ issuer: BASE, app: app.name, fetch: viaWorker });
    await expect(verifier.verify(token)).resolves.toMatchObject({ sub: user.id });
  });

  it('rotates refresh tokens', async () => {
    const { app } = await appWithJane();
    const first = await login(app.name, 'jane@acme.co', PASSWORD);
    const res = await api('POST', `/v1/apps/${app.name}/tokens/refresh`, { key: null, body: { refresh_token: first.body.refresh_token } });
    expect(res.status, res.text).toBe(200);
    expect(res.body.refresh_token).not.toBe(first.body.refresh_token);
    await expect(verifiesWithJose(res.body.access_token, app.name)).resolves.toBeTruthy();
  });

  it('issues client-credentials tokens', async () => {
    const { app } = await appWithJane();
    const credential = await createCredential(app.name, BILLING);
    issuedOnce(credential.client_secret);
    const res = await clientCredentials(app.name, credential.client_id, credential.client_secret);
    expect(res.status, res.text).toBe(200);
    const { payload } = await verifiesWithJose(res.body.access_token, app.name);
    expect(payload).toMatchObject({ sub: credential.id, client_id: credential.client_id });
    const allowed = await authorizeCall({ token: res.body.access_token, permission: 'billing:read' });
    expect(allowed.body).toMatchObject({ allowed: true, subject_type: 'service' });
  });

  it('accepts invites, as a new user (who then logs in) and as an existing one, with an invite_url on the request origin', async () => {
    const { app, user } = await appWithJane();
    await createRole(app.name, { name: 'viewer', permissions: ['projects:list'] });
    const invite = async (email: string, role: string) => {
      const res = await api('POST', `/v1/apps/${app.name}/invites`, { body: { email, role } });
      expect(res.status, res.text).toBe(201);
      expect(res.body.invite_url).toBe(`${BASE}/v1/invites/${issuedOnce(res.body.token)}/accept`);
      return res.body.token as string;
    };
    const created = await api('POST', `/v1/invites/${await invite('joe@acme.co', 'editor')}/accept`, { key: null, body: { password: PASSWORD } });
    expect(created.status, created.text).toBe(201);
    const session = await login(app.name, 'joe@acme.co', PASSWORD);
    expect(session.status, session.text).toBe(200);
    await expect(verifiesWithJose(session.body.access_token, app.name)).resolves.toBeTruthy();
    expect((await authorizeCall({ token: session.body.access_token, permission: 'projects:read' })).body).toMatchObject({ allowed: true, subject: created.body.id });

    const existing = await api('POST', `/v1/invites/${await invite('jane@acme.co', 'viewer')}/accept`, { key: null, body: { password: PASSWORD } });
    expect(existing.status, existing.text).toBe(200);
    expect(existing.body).toMatchObject({ id: user.id, roles: ['editor', 'viewer'] });
  });

  it('seals the signing keys under a key derived from the root key', async () => {
    const { app } = await appWithJane();
    expect((await login(app.name, 'jane@acme.co', PASSWORD)).status).toBe(200);
    const rows = await env.DB.prepare("SELECT kid, private_jwk_sealed AS sealed FROM signing_keys WHERE status <> 'retired'").all<{ kid: string; sealed: string }>();
    expect(rows.results).toHaveLength(2);
    const fromRoot = await sealingKey(env);
    const fromOtherRoot = await sealingKey({ HEIMDALL_ROOT_KEY: `${env.HEIMDALL_ROOT_KEY}-other` });
    for (const row of rows.results) {
      expect(row.sealed).not.toContain('"d"');
      await expect(unsealSigningKey(row.sealed, row.kid, fromRoot)).resolves.toBeTruthy();
      await expect(unsealSigningKey(row.sealed, row.kid, fromOtherRoot)).rejects.toThrow(UnsealError);
    }
  });
});
