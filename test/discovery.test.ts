import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import worker from '../src/index';
import { clientCredentials, createCredential } from './credential-helpers';
import { BASE, api, expectError, seedApp } from './helpers';

const discoveryPath = (appName: string) => `/v1/apps/${appName}/.well-known/oauth-authorization-server`;

describe('the authorization server metadata (RFC 8414)', () => {
  it('describes the app\'s token endpoint, with the issuer its tokens carry, to anyone, cacheable and unlimited', async () => {
    const app = await seedApp();
    const res = await api('GET', discoveryPath(app.name), { key: null });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({
      issuer: BASE,
      token_endpoint: `${BASE}/v1/apps/${app.name}/tokens`,
      jwks_uri: `${BASE}/v1/.well-known/jwks.json`,
      revocation_endpoint: `${BASE}/v1/apps/${app.name}/tokens/revoke`,
      grant_types_supported: ['password', 'refresh_token', 'client_credentials'],
      response_types_supported: [],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      revocation_endpoint_auth_methods_supported: ['none'],
    });
    expect(res.headers.get('Cache-Control')).toBe('public, max-age=300');
    expect(res.headers.get('Content-Type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('X-Content-Type-Options')).toBe('nosniff');
    // A public document: no rate limit, and no CORS beyond the JWKS.
    expect(res.headers.get('X-RateLimit-Limit')).toBeNull();
    expect(res.headers.get('Access-Control-Allow-Origin')).toBeNull();
    // An admin key changes nothing, a wrong one is not even looked at.
    expect((await api('GET', discoveryPath(app.name))).body).toEqual(res.body);
    expect((await api('GET', discoveryPath(app.name), { key: 'not-a-key' })).status).toBe(200);

    // A client that follows the document gets a token whose `iss` is the document's issuer.
    const credential = await createCredential(app.name);
    const token = await api('POST', res.body.token_endpoint.slice(BASE.length), {
      key: null,
      body: { grant_type: 'client_credentials', client_id: credential.client_id, client_secret: credential.client_secret },
    });
    expect(token.status, token.text).toBe(200);
    expect(decodeJwt(token.body.access_token).iss).toBe(res.body.issuer);
    const jwks = await api('GET', res.body.jwks_uri.slice(BASE.length), { key: null });
    expect(jwks.status).toBe(200);
  });

  it('answers 404 for an unknown app, in the error shape and uncached', async () => {
    const res = await api('GET', discoveryPath('no-such-app'), { key: null });
    expectError(res, 404, 'NOT_FOUND');
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    // Only this one document is public: other paths under the app still need a key.
    expectError(await api('GET', `/v1/apps/no-such-app/.well-known/openid-configuration`, { key: null }), 401, 'UNAUTHORIZED');
    expectError(await api('POST', discoveryPath('no-such-app'), { key: null, body: {} }), 405, 'METHOD_NOT_ALLOWED');
  });

  it('stays readable for an archived app', async () => {
    const app = await seedApp();
    await api('DELETE', `/v1/apps/${app.name}`);
    expect((await api('GET', discoveryPath(app.name), { key: null })).status).toBe(200);
  });

  it('builds every URL on PUBLIC_BASE_URL and BASE_PATH, and names the ISSUER var when one is set', async () => {
    const app = await seedApp();
    const credential = await createCredential(app.name);
    const deployed = { ...env, PUBLIC_BASE_URL: 'https://api.productcraft.co', BASE_PATH: '/heimdall' };
    const call = async (bindings: typeof env, path: string, init?: RequestInit) => {
      const ctx = createExecutionContext();
      const request = new Request(`https://worker.internal/heimdall${path}`, init) as Parameters<typeof worker.fetch>[0];
      const res = await worker.fetch(request, bindings, ctx);
      await waitOnExecutionContext(ctx);
      return { status: res.status, body: (await res.json()) as any };
    };
    const grant = {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: credential.client_id, client_secret: credential.client_secret }),
    };

    const doc = await call(deployed, discoveryPath(app.name));
    expect(doc.status).toBe(200);
    expect(doc.body).toMatchObject({
      issuer: 'https://api.productcraft.co/heimdall',
      token_endpoint: `https://api.productcraft.co/heimdall/v1/apps/${app.name}/tokens`,
      jwks_uri: 'https://api.productcraft.co/heimdall/v1/.well-known/jwks.json',
      revocation_endpoint: `https://api.productcraft.co/heimdall/v1/apps/${app.name}/tokens/revoke`,
    });
    expect(decodeJwt((await call(deployed, `/v1/apps/${app.name}/tokens`, grant)).body.access_token).iss).toBe(doc.body.issuer);

    const withIssuer = { ...deployed, ISSUER: 'https://auth.acme.example' };
    const named = await call(withIssuer, discoveryPath(app.name));
    expect(named.body.issuer).toBe('https://auth.acme.example');
    expect(named.body.token_endpoint).toBe(doc.body.token_endpoint);
    expect(decodeJwt((await call(withIssuer, `/v1/apps/${app.name}/tokens`, grant)).body.access_token).iss).toBe('https://auth.acme.example');
  });

  it('gives every app its own token endpoint under the one issuer', async () => {
    const [a, b] = [await seedApp(), await seedApp()];
    const [docA, docB] = [(await api('GET', discoveryPath(a.name), { key: null })).body, (await api('GET', discoveryPath(b.name), { key: null })).body];
    expect(docA.issuer).toBe(docB.issuer);
    expect(docA.token_endpoint).not.toBe(docB.token_endpoint);
    // Each app's document leads to that app's token endpoint, where only that app's credentials work.
    const credential = await createCredential(a.name);
    expectError(await clientCredentials(b.name, credential.client_id, credential.client_secret), 401, 'INVALID_CREDENTIALS');
  });
});
