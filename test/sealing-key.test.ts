/**
 * Changing the secret that seals the private signing keys
 * (docs/configuration.md#changing-the-sealing-key): the Worker is run with one
 * binding set and then another (the `bindings` of each request), as a
 * deployment is before and after `wrangler secret put` or `secret delete`.
 * Signing goes on with a fresh key, tokens signed before still verify, and
 * each replacement is audited once.
 */
import { env } from 'cloudflare:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { PASSWORD, api, auditRows, authorizeCall, createRole, createUser, expectError, freshIp, login, seedApp, verifyLikeAClient } from './helpers';

type Bindings = typeof env;

const WITHOUT_KEK: Bindings = { ...env, HEIMDALL_KEY_ENCRYPTION_KEY: undefined };
const OTHER_KEK: Bindings = { ...env, HEIMDALL_KEY_ENCRYPTION_KEY: 'another-key-encryption-key-of-32-characters-or-more' };

async function setup() {
  const app = await seedApp();
  await createRole(app.name, { name: 'editor', permissions: ['projects:read'] });
  await createUser(app.name, { email: 'jane@acme.co', password: PASSWORD, role: 'editor' });
  return app;
}

function loginWith(appName: string, bindings: Bindings) {
  return login(appName, 'jane@acme.co', PASSWORD, freshIp(), bindings);
}

async function tokenWith(appName: string, bindings: Bindings): Promise<{ token: string; kid: string }> {
  const res = await loginWith(appName, bindings);
  expect(res.status, res.text).toBe(200);
  return { token: res.body.access_token, kid: decodeProtectedHeader(res.body.access_token).kid! };
}

async function replacements(): Promise<any[]> {
  return (await auditRows(null, 'signing_key.rotated')).filter((r) => JSON.parse(r.metadata).trigger === 'unseal_failed');
}

async function stillAccepted(token: string, appName: string): Promise<void> {
  await expect(verifyLikeAClient(token, appName)).resolves.toBeTruthy();
  const res = await authorizeCall({ token, permission: 'projects:read' });
  expect(res.status, res.text).toBe(200);
  expect(res.body.allowed).toBe(true);
}

describe('changing the sealing secret', () => {
  it('removing, changing and restoring the encryption key: each time a fresh key signs, old tokens keep verifying, and it is audited', async () => {
    const app = await setup();
    const first = await tokenWith(app.name, env);
    const audited = (await replacements()).length;

    // Removed: the sealing key now comes from the root key.
    const second = await tokenWith(app.name, WITHOUT_KEK);
    expect(second.kid).not.toBe(first.kid);
    let entries = await replacements();
    expect(entries).toHaveLength(audited + 1);
    const entry = entries.at(-1);
    expect(entry).toMatchObject({ app_id: null, actor_id: null, user_agent: 'heimdall', target_type: 'signing_key', target_id: second.kid });
    expect(JSON.parse(entry.metadata)).toMatchObject({
      trigger: 'unseal_failed',
      reason: expect.stringContaining('does not unseal'),
      retired_kid: first.kid,
      active_kid: second.kid,
      next_kid: expect.any(String),
    });
    // The same secret again: no second replacement.
    expect((await tokenWith(app.name, WITHOUT_KEK)).kid).toBe(second.kid);
    expect(await replacements()).toHaveLength(audited + 1);

    // Changed to another value, then back to the original one.
    const third = await tokenWith(app.name, OTHER_KEK);
    const fourth = await tokenWith(app.name, env);
    expect(new Set([first.kid, second.kid, third.kid, fourth.kid]).size).toBe(4);
    entries = await replacements();
    expect(entries).toHaveLength(audited + 3);
    expect(entries.slice(-2).map((e) => JSON.parse(e.metadata).retired_kid)).toEqual([second.kid, third.kid]);

    // Every token still verifies, with a stock client and at /v1/authorize.
    for (const { token } of [first, second, third, fourth]) await stillAccepted(token, app.name);
    const jwks = await api('GET', '/v1/.well-known/jwks.json', { key: null });
    const published = jwks.body.keys.map((k: { kid: string }) => k.kid);
    for (const kid of [first.kid, second.kid, third.kid, fourth.kid]) expect(published).toContain(kid);

    // The ring: one active key (the newest), one next key, the replaced ones retired.
    const keys = (await api('GET', '/v1/signing-keys')).body.data as { kid: string; status: string }[];
    expect(keys.filter((k) => k.status === 'active').map((k) => k.kid)).toEqual([fourth.kid]);
    expect(keys.filter((k) => k.status === 'next')).toHaveLength(1);
    for (const kid of [first.kid, second.kid, third.kid]) expect(keys.find((k) => k.kid === kid)?.status).toBe('retired');
  });

  it('concurrent logins after a change replace the key once, and all sign with the replacement', async () => {
    const app = await setup();
    await tokenWith(app.name, env);
    const audited = (await replacements()).length;
    const results = await Promise.all(Array.from({ length: 4 }, () => loginWith(app.name, OTHER_KEK)));
    for (const res of results) expect(res.status, res.text).toBe(200);
    const kids = new Set(results.map((r) => decodeProtectedHeader(r.body.access_token).kid));
    expect(kids.size).toBe(1);
    expect(await replacements()).toHaveLength(audited + 1);
    // Back to the suite's secret for the rest of the file.
    await tokenWith(app.name, env);
  });

  it('an encryption key that is set but too short is a configuration error naming it, and replaces nothing', async () => {
    const app = await setup();
    const before = await tokenWith(app.name, env);
    const audited = (await replacements()).length;
    const short = 'too-short-a-key';
    const res = await loginWith(app.name, { ...env, HEIMDALL_KEY_ENCRYPTION_KEY: short });
    const error = expectError(res, 500, 'CONFIGURATION_ERROR');
    expect(error.message).toContain('HEIMDALL_KEY_ENCRYPTION_KEY');
    expect(res.text).not.toContain(short);
    expect(await replacements()).toHaveLength(audited);
    const after = await tokenWith(app.name, env);
    expect(after.kid).toBe(before.kid);
    expect(decodeJwt(after.token).app).toBe(app.name);
  });
});
