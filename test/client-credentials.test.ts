import { decodeJwt } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { BILLING, basicHeader, clientCredentials, createCredential, type GrantStyle } from './credential-helpers';
import {
  BASE,
  PASSWORD,
  api,
  auditRows,
  authorizeCall,
  createUser,
  eventually,
  expectDetail,
  expectError,
  freshIp,
  login,
  seedApp,
  verifyLikeAClient,
} from './helpers';

const BASIC_CHALLENGE = 'Basic realm="heimdall"';

async function appWithBilling(permissions: string[] = BILLING.permissions) {
  const app = await seedApp();
  const credential = await createCredential(app.name, { name: 'billing-service', permissions });
  return { app, credential };
}

function tokenPost(appName: string, options: { raw?: string; body?: unknown; headers?: Record<string, string> }) {
  return api('POST', `/v1/apps/${appName}/tokens`, { key: null, ...options, headers: { 'CF-Connecting-IP': freshIp(), ...options.headers } });
}

const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

describe('the client-credentials grant', () => {
  it.each<GrantStyle>(['json', 'form', 'basic'])(
    'issues a service token to a secret sent by %s: no refresh token, never cached, verifiable against the JWKS',
    async (style) => {
      const { app, credential } = await appWithBilling();
      const res = await clientCredentials(app.name, credential.client_id, credential.client_secret, style);
      expect(res.status, res.text).toBe(200);
      expect(Object.keys(res.body)).toEqual(['access_token', 'token_type', 'expires_in']);
      expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600 });
      expect(res.headers.get('Cache-Control')).toBe('no-store');
      expect(res.headers.get('Pragma')).toBe('no-cache');

      const { payload, protectedHeader } = await verifyLikeAClient(res.body.access_token, app.name);
      expect(protectedHeader).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
      // A service has no roles: the token carries its client id and its permissions.
      expect(Object.keys(payload).sort()).toEqual(['app', 'app_epoch', 'app_id', 'aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'permissions', 'sub']);
      expect(payload).toMatchObject({
        iss: BASE,
        sub: credential.id,
        app_epoch: 0,
        aud: app.name,
        app: app.name,
        app_id: app.id,
        client_id: credential.client_id,
        permissions: ['billing:read', 'billing:write'],
      });
      expect(payload.exp! - payload.iat!).toBe(3600);

      const [issued] = await auditRows(app.id, 'token.issued');
      expect(issued).toMatchObject({ actor_id: credential.id, target_type: 'token', target_id: payload.jti });
      expect(JSON.parse(issued.metadata)).toMatchObject({
        grant_type: 'client_credentials',
        auth_method: style === 'basic' ? 'client_secret_basic' : 'client_secret_post',
        secret_used: 'current',
      });
    },
  );

  it('decodes Basic as RFC 6749 §2.3.1 says: a case-insensitive scheme, each half form-urlencoded', async () => {
    const { app, credential } = await appWithBilling();
    const percentEncoded = [...credential.client_id].map((ch: string) => `%${ch.charCodeAt(0).toString(16)}`).join('');
    for (const header of [
      `basic ${btoa(`${credential.client_id}:${credential.client_secret}`)}`,
      `Basic ${btoa(`${percentEncoded}:${credential.client_secret}`)}`,
    ]) {
      const res = await tokenPost(app.name, { raw: 'grant_type=client_credentials', headers: { ...FORM, Authorization: header } });
      expect(res.status, `${header}: ${res.text}`).toBe(200);
    }
    // A body client_id equal to Basic's is fine, and unknown OAuth parameters are ignored.
    const withId = await tokenPost(app.name, {
      raw: `grant_type=client_credentials&client_id=${credential.client_id}&scope=billing`,
      headers: { ...FORM, Authorization: basicHeader(credential.client_id, credential.client_secret) },
    });
    expect(withId.status, withId.text).toBe(200);
  });

  it('refuses two client authentication methods at once, and a body client_id other than Basic\'s, with 400', async () => {
    const { app, credential } = await appWithBilling();
    const other = await createCredential(app.name, { name: 'other', permissions: [] });
    const authorization = basicHeader(credential.client_id, credential.client_secret);
    const both = await tokenPost(app.name, {
      body: { grant_type: 'client_credentials', client_id: credential.client_id, client_secret: credential.client_secret },
      headers: { Authorization: authorization },
    });
    expectError(both, 400, 'VALIDATION_ERROR');
    expectDetail(both, 'client_secret', 'multiple_client_authentication');
    // Also when the Basic header is the broken one: two methods is the first problem.
    expectDetail(
      await tokenPost(app.name, { body: { grant_type: 'client_credentials', client_secret: credential.client_secret }, headers: { Authorization: 'Basic !!' } }),
      'client_secret',
      'multiple_client_authentication',
    );
    const mismatch = await tokenPost(app.name, { raw: `grant_type=client_credentials&client_id=${other.client_id}`, headers: { ...FORM, Authorization: authorization } });
    expectError(mismatch, 400, 'VALIDATION_ERROR');
    expectDetail(mismatch, 'client_id', 'client_id_mismatch');
    expect(await auditRows(app.id, 'token.issued')).toHaveLength(0);
  });

  it('requires the client id and secret when no Basic header is sent, and never takes a secret from the URL', async () => {
    const { app, credential } = await appWithBilling();
    expectDetail(await tokenPost(app.name, { body: { grant_type: 'client_credentials', client_id: credential.client_id } }), 'client_secret', 'required');
    expectDetail(await tokenPost(app.name, { body: { grant_type: 'client_credentials', client_secret: credential.client_secret } }), 'client_id', 'required');
    expectDetail(await tokenPost(app.name, { body: { grant_type: 'client_credentials', client_id: 7, client_secret: credential.client_secret } }), 'client_id', 'invalid_type');
    const inUrl = await api('POST', `/v1/apps/${app.name}/tokens?client_secret=${credential.client_secret}`, {
      key: null,
      body: { grant_type: 'client_credentials', client_id: credential.client_id },
    });
    expectError(inUrl, 400, 'VALIDATION_ERROR');
    expectDetail(inUrl, 'client_secret', 'not_allowed_in_query');
    expect(inUrl.text).not.toContain(credential.client_secret);
  });

  it('does not let a credential use the password or refresh grants', async () => {
    const { app, credential } = await appWithBilling();
    const authorization = basicHeader(credential.client_id, credential.client_secret);
    expectDetail(await tokenPost(app.name, { raw: 'grant_type=password', headers: { ...FORM, Authorization: authorization } }), 'password', 'required');
    expectDetail(await tokenPost(app.name, { raw: 'grant_type=refresh_token', headers: { ...FORM, Authorization: authorization } }), 'refresh_token', 'required');
    expect(await auditRows(app.id, 'token.issued')).toHaveLength(0);
  });
});

describe('failed client authentication', () => {
  it('answers a wrong secret, an unknown client, another app\'s client and a revoked credential with one 401', async () => {
    const { app, credential } = await appWithBilling();
    const theirs = await appWithBilling();
    const revoked = await createCredential(app.name, { name: 'retired', permissions: ['billing:read'] });
    await api('DELETE', `/v1/apps/${app.name}/credentials/${revoked.id}`);
    const secret = credential.client_secret as string;
    const variants: [string, string, string][] = [
      ['wrong secret', credential.client_id, `sk_live_${'0'.repeat(42)}`],
      ['secret plus one character', credential.client_id, `${secret}0`],
      ['secret minus one character', credential.client_id, secret.slice(0, -1)],
      ['secret in lower case', credential.client_id, secret.toLowerCase()],
      ['secret with a trailing newline', credential.client_id, `${secret}\n`],
      ['unknown client id', 'svc_01M8GCYKQVBFWM07Q9RW99N4390000000000', secret],
      ['another app\'s client, at this app', theirs.credential.client_id, theirs.credential.client_secret],
      ['this client with another app\'s secret', credential.client_id, theirs.credential.client_secret],
      ['a revoked credential with its right secret', revoked.client_id, revoked.client_secret],
    ];
    const bodies = new Set<string>();
    for (const style of ['json', 'form', 'basic'] as const) {
      for (const [name, clientId, clientSecret] of variants) {
        const res = await clientCredentials(app.name, clientId, clientSecret, style);
        expectError(res, 401, 'INVALID_CREDENTIALS');
        expect(res.headers.get('WWW-Authenticate'), `${style}: ${name}`).toBe(style === 'basic' ? BASIC_CHALLENGE : null);
        expect(res.headers.get('Cache-Control')).toBe('no-store');
        bodies.add(res.text);
      }
    }
    expect(bodies.size).toBe(1);
    // The same answer as a failed password login: nothing tells a client grant's failure apart.
    const user = await createUser(app.name, { password: PASSWORD });
    bodies.add((await login(app.name, user.email, 'wrong password here')).text);
    expect(bodies.size).toBe(1);

    // Only the audit log says what it was; never the secret presented.
    const failures = (await auditRows(app.id, 'auth.failed')).filter((r) => JSON.parse(r.metadata).grant_type === 'client_credentials');
    expect(failures).toHaveLength(variants.length * 3);
    const reasons = failures.slice(0, variants.length).map((f) => [f.target_id, JSON.parse(f.metadata).reason]);
    expect(reasons).toEqual([
      ...Array.from({ length: 5 }, () => [credential.id, 'invalid_secret']),
      [null, 'unknown_client'],
      [null, 'unknown_client'],
      [credential.id, 'invalid_secret'],
      [revoked.id, 'revoked'],
    ]);
    for (const f of failures) {
      expect(f).toMatchObject({ actor_id: null, target_type: 'credential' });
      for (const [, , presented] of variants) expect(f.metadata).not.toContain(presented.trim().slice(8));
    }
    // Nothing of the other app shows in this app's log.
    expect(JSON.stringify(failures)).not.toContain(theirs.credential.id);
    expect(await auditRows(theirs.app.id, 'auth.failed')).toHaveLength(0);
    expect(await auditRows(app.id, 'token.issued')).toHaveLength(0);
  });

  it('answers a Basic header it cannot decode with the same 401, never a 500', async () => {
    const { app, credential } = await appWithBilling();
    const reference = await clientCredentials(app.name, credential.client_id, 'wrong', 'basic');
    const b64 = (text: string) => btoa(text);
    const headers = [
      'Basic',
      'Basic ',
      'Basic !!!not-base64',
      'Basic abc=def',
      `Basic ${b64('no colon at all')}`,
      `Basic ${b64(`:${credential.client_secret}`)}`,
      `Basic ${b64(`${credential.client_id}:`)}`,
      `Basic ${b64(`%zz:${credential.client_secret}`)}`,
      `Basic ${b64(`${credential.client_id}:%E0%A4%A`)}`,
      `Basic ${b64('\xff\xfe:\xfd')}`,
      `Basic ${b64(`${credential.client_id}:${credential.client_secret}`)} trailing`,
      `Basic ${'A'.repeat(5000)}`,
    ];
    for (const header of headers) {
      const res = await tokenPost(app.name, { raw: 'grant_type=client_credentials', headers: { ...FORM, Authorization: header } });
      expectError(res, 401, 'INVALID_CREDENTIALS');
      expect(res.text, header).toBe(reference.text);
      expect(res.headers.get('WWW-Authenticate')).toBe(BASIC_CHALLENGE);
    }
    const malformed = (await auditRows(app.id, 'auth.failed')).filter((r) => JSON.parse(r.metadata).reason === 'malformed_credentials');
    expect(malformed).toHaveLength(headers.length);
    expect(JSON.parse(malformed[0].metadata)).toEqual({ grant_type: 'client_credentials', client_id: null, auth_method: 'client_secret_basic', reason: 'malformed_credentials' });
  });

  it('answers an unknown app with 404', async () => {
    expectError(await clientCredentials('no-such-app', 'svc_x', 'sk_live_x'), 404, 'NOT_FOUND');
  });
});

describe('secret rotation', () => {
  it('without a grace period, stops the old secret at once; the new one works', async () => {
    const { app, credential } = await appWithBilling();
    const rotated = await api('PATCH', `/v1/apps/${app.name}/credentials/${credential.id}`, { body: { rotate_secret: true } });
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.body).toMatchObject({ client_id: credential.client_id, secret_last4: rotated.body.client_secret.slice(-4), previous_secret_expires_at: null });
    expect(rotated.body.rotated_at).toBe(rotated.body.updated_at);
    expectError(await clientCredentials(app.name, credential.client_id, credential.client_secret), 401, 'INVALID_CREDENTIALS');
    expect((await clientCredentials(app.name, credential.client_id, rotated.body.client_secret, 'basic')).status).toBe(200);
    const [entry] = await auditRows(app.id, 'credential.rotated');
    expect(JSON.parse(entry.metadata)).toEqual({ name: 'billing-service', secret_last4: rotated.body.secret_last4, grace_period_seconds: 0, previous_secret_expires_at: null });
  });

  it('with a grace period, lets both secrets work until it ends, then only the new one', async () => {
    const { app, credential } = await appWithBilling();
    const start = Date.now();
    try {
      vi.useFakeTimers({ toFake: ['Date'], now: start });
      const rotated = await api('PATCH', `/v1/apps/${app.name}/credentials/${credential.id}`, { body: { rotate_secret: true, grace_period_seconds: 3600 } });
      expect(rotated.status, rotated.text).toBe(200);
      expect(rotated.body.previous_secret_expires_at).toBe(new Date(Math.floor((start + 3_600_000) / 1000) * 1000).toISOString().replace('.000Z', 'Z'));
      const oldSecret = credential.client_secret as string;
      const newSecret = rotated.body.client_secret as string;

      vi.setSystemTime(start + 3_599_000);
      expect((await clientCredentials(app.name, credential.client_id, oldSecret, 'basic')).status).toBe(200);
      expect((await clientCredentials(app.name, credential.client_id, newSecret, 'json')).status).toBe(200);
      const used = (await auditRows(app.id, 'token.issued')).map((r) => JSON.parse(r.metadata).secret_used);
      expect(used).toEqual(['previous', 'current']);

      vi.setSystemTime(start + 3_600_000);
      expectError(await clientCredentials(app.name, credential.client_id, oldSecret), 401, 'INVALID_CREDENTIALS');
      expect((await clientCredentials(app.name, credential.client_id, newSecret)).status).toBe(200);
    } finally {
      vi.useRealTimers();
    }
  });

  it('rotating again during a grace period ends the older secret at once', async () => {
    const { app, credential } = await appWithBilling();
    const rotate = (body: unknown) => api('PATCH', `/v1/apps/${app.name}/credentials/${credential.id}`, { body });
    const second = (await rotate({ rotate_secret: true, grace_period_seconds: 3600 })).body.client_secret;
    const third = (await rotate({ rotate_secret: true, grace_period_seconds: 3600 })).body.client_secret;
    expectError(await clientCredentials(app.name, credential.client_id, credential.client_secret), 401, 'INVALID_CREDENTIALS');
    expect((await clientCredentials(app.name, credential.client_id, second)).status).toBe(200);
    expect((await clientCredentials(app.name, credential.client_id, third)).status).toBe(200);
  });
});

describe('service tokens at /v1/authorize', () => {
  it('are answered with the credential\'s current permissions, wildcards included', async () => {
    const { app, credential } = await appWithBilling(['billing:*', 'invoices:read']);
    const token = (await clientCredentials(app.name, credential.client_id, credential.client_secret)).body.access_token;
    const res = await authorizeCall({ token, permission: 'billing:refund' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({
      allowed: true,
      app: app.name,
      app_id: app.id,
      subject: credential.id,
      subject_type: 'service',
      roles: [],
      permissions: ['billing:*', 'invoices:read'],
      expires_at: new Date(decodeJwt(token).exp! * 1000).toISOString().replace('.000Z', 'Z'),
    });
    expect((await authorizeCall({ token, permissions: ['billing:read', 'invoices:read'] })).body.allowed).toBe(true);
    expect((await authorizeCall({ token, permission: 'invoices:write' })).body).toMatchObject({ allowed: false, reason: 'permission_denied' });

    // New permissions show within five seconds, while the token's own claims stay as issued.
    await api('PATCH', `/v1/apps/${app.name}/credentials/${credential.id}`, { body: { permissions: ['invoices:*'] } });
    await eventually(async () => (await authorizeCall({ token, permission: 'billing:refund' })).body.allowed === false);
    expect((await authorizeCall({ token, permission: 'invoices:write' })).body.allowed).toBe(true);
    expect(decodeJwt(token).permissions).toEqual(['billing:*', 'invoices:read']);
  });

  it('are refused within five seconds once the credential is revoked, and it gets no new token', async () => {
    const { app, credential } = await appWithBilling();
    const token = (await clientCredentials(app.name, credential.client_id, credential.client_secret)).body.access_token;
    expect((await authorizeCall({ token, permission: 'billing:read' })).body.allowed).toBe(true);
    expect((await api('DELETE', `/v1/apps/${app.name}/credentials/${credential.id}`)).status).toBe(200);
    for (const style of ['json', 'basic'] as const) {
      expectError(await clientCredentials(app.name, credential.client_id, credential.client_secret, style), 401, 'INVALID_CREDENTIALS');
    }
    const waited = await eventually(async () => (await authorizeCall({ token, permission: 'billing:read' })).status === 401);
    expect(waited).toBeLessThan(5_000);
    expectError(await authorizeCall({ token, permission: 'billing:read' }), 401, 'INVALID_TOKEN');
  });

  it('stay valid across a rotation: rotating replaces the secret, revoking ends the tokens', async () => {
    const { app, credential } = await appWithBilling();
    const token = (await clientCredentials(app.name, credential.client_id, credential.client_secret)).body.access_token;
    await api('PATCH', `/v1/apps/${app.name}/credentials/${credential.id}`, { body: { rotate_secret: true } });
    expect((await authorizeCall({ token, permission: 'billing:read' })).body.allowed).toBe(true);
  });
});
