/**
 * BASE_PATH and PUBLIC_BASE_URL (docs/api-conventions.md#base-path, docs/configuration.md#public-base-url): every route is served
 * under the base path, nothing outside it, and every URL Heimdall builds
 * (issuer, invite links, discovery, the OpenAPI server) carries both.
 */
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import worker from '../src/index';
import { PASSWORD, createRole, createUser, seedApp } from './helpers';

const mounted = { ...env, BASE_PATH: '/heimdall', PUBLIC_BASE_URL: 'https://api.productcraft.co' };

async function call(method: string, path: string, body?: unknown, admin = false) {
  const ctx = createExecutionContext();
  const headers: Record<string, string> = { 'Content-Type': 'application/json', 'CF-Connecting-IP': '192.0.2.44' };
  if (admin) headers.Authorization = `Bearer ${env.HEIMDALL_ROOT_KEY}`;
  const res = await worker.fetch(
    new Request(`https://internal.example${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) }),
    mounted,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return { status: res.status, body: (await res.json()) as any };
}

describe('a deployment mounted under /heimdall', () => {
  it('serves every route under the base path and nothing outside it', async () => {
    expect((await call('GET', '/heimdall/v1/health')).status).toBe(200);
    const outside = await call('GET', '/v1/health');
    expect(outside.status).toBe(404);
    expect(outside.body.error.code).toBe('NOT_FOUND');
    expect((await call('GET', '/heimdallx/v1/health')).status).toBe(404);
  });

  it('builds every URL from PUBLIC_BASE_URL and BASE_PATH', async () => {
    const app = await seedApp();
    await createRole(app.name, { name: 'editor', permissions: ['projects:read'] });
    await createUser(app.name, { email: 'jane@acme.co', password: PASSWORD, role: 'editor' });
    const base = 'https://api.productcraft.co/heimdall';

    const login = await call('POST', `/heimdall/v1/apps/${app.name}/tokens`, { grant_type: 'password', email: 'jane@acme.co', password: PASSWORD });
    expect(login.status).toBe(200);
    expect(decodeJwt(login.body.access_token).iss).toBe(base);

    const invite = await call('POST', `/heimdall/v1/apps/${app.name}/invites`, { role: 'editor' }, true);
    expect(invite.status).toBe(201);
    expect(invite.body.invite_url).toBe(`${base}/v1/invites/${invite.body.token}/accept`);

    const discovery = await call('GET', `/heimdall/v1/apps/${app.name}/.well-known/oauth-authorization-server`);
    expect(discovery.body).toMatchObject({
      issuer: base,
      token_endpoint: `${base}/v1/apps/${app.name}/tokens`,
      jwks_uri: `${base}/v1/.well-known/jwks.json`,
    });
    expect((await call('GET', '/heimdall/v1/openapi.json')).body.servers).toEqual([{ url: base }]);

    const checked = await call('POST', '/heimdall/v1/authorize', { token: login.body.access_token, permission: 'projects:read' });
    expect(checked.body.allowed).toBe(true);
  });
});
