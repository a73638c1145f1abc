// @ts-check
/**
 * The benchmark's cases (issue 10), each one request shape driven by
 * autocannon. Every case but the sign-only reference hits Heimdall.
 */
import { login } from './seed.mjs';

const JSON_HEADERS = { 'Content-Type': 'application/json' };

/** Heimdall's client ids: `svc_`, a 10-character time stamp, 128 random bits in base32. */
const PLACEHOLDER_CLIENT_ID = `svc_${'0'.repeat(36)}`;
const PLACEHOLDER_CREDENTIAL_ID = `cred_${'0'.repeat(26)}`;

/**
 * @param {import('./server.mjs').BenchServer} server
 * @param {import('./seed.mjs').Seed} seed
 * @returns {import('./load.mjs').LoadCase[]}
 */
export function benchCases(server, seed) {
  const base = server.heimdall;
  const admin = { Authorization: `Bearer ${server.rootKey}` };
  const app = seed.app.name;
  const authorize = (/** @type {string} */ permission) => JSON.stringify({ token: seed.accessToken, permission, app });

  // Refresh: each connection walks its own chain of single-use tokens, from
  // one login. A request still in flight when a run stops may have rotated
  // its token unseen, so such a chain starts again from a new login.
  /** @type {{ email: string, token: string | null, inFlight: boolean }[]} */
  const chains = seed.loginUsers.map((email) => ({ email, token: null, inFlight: false }));
  let created = 0;

  const credential = seed.credential;
  const claims = {
    iss: base,
    sub: credential?.id ?? PLACEHOLDER_CREDENTIAL_ID,
    aud: app,
    app_id: seed.app.id,
    app,
    permissions: credential?.permissions ?? ['projects:read', 'documents:read'],
    client_id: credential?.client_id ?? PLACEHOLDER_CLIENT_ID,
  };

  return [
    { key: 'health', title: 'health (GET /v1/health)', url: `${base}/v1/health` },
    { key: 'jwks', title: 'JWKS', url: `${base}/v1/.well-known/jwks.json` },
    { key: 'authorize-allowed', title: 'authorize, allowed', url: `${base}/v1/authorize`, method: 'POST', headers: JSON_HEADERS, body: authorize('projects:write') },
    { key: 'authorize-denied', title: 'authorize, denied', url: `${base}/v1/authorize`, method: 'POST', headers: JSON_HEADERS, body: authorize('billing:delete') },
    {
      key: 'client-credentials',
      title: 'client_credentials token',
      url: `${base}/v1/apps/${app}/tokens`,
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: credential?.client_id, client_secret: credential?.client_secret }),
      ...(credential ? {} : { unavailable: 'n/a (route missing)' }),
    },
    {
      key: 'sign-only',
      title: 'sign-only RS256 worker (reference)',
      url: server.signOnly,
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ kid: seed.kid, claims }),
    },
    {
      key: 'password',
      title: 'password token',
      url: `${base}/v1/apps/${app}/tokens`,
      method: 'POST',
      headers: JSON_HEADERS,
      // A hash per request, ten queued: a longer run for enough answers.
      durationFactor: 3,
      // One account per connection: the login throttle counts attempts in
      // flight per account, so ten concurrent logins to one account would be
      // (rightly) refused.
      setupClient: (client, i) =>
        client.setBody(JSON.stringify({ grant_type: 'password', email: seed.loginUsers[i % seed.loginUsers.length], password: seed.password })),
    },
    {
      key: 'refresh',
      title: 'refresh token',
      url: `${base}/v1/apps/${app}/tokens`,
      method: 'POST',
      headers: JSON_HEADERS,
      beforeRun: async () => {
        for (const chain of chains) {
          if (chain.token === null || chain.inFlight) {
            chain.token = (await login(server, app, chain.email)).refresh_token;
            chain.inFlight = false;
          }
        }
      },
      setupClient: (client, i) => {
        const chain = chains[i % chains.length];
        if (!chain) throw new Error('no refresh chain for this connection');
        client.setRequests([{
          setupRequest: (request) => {
            chain.inFlight = true;
            return { ...request, body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: chain.token }) };
          },
          onResponse: (status, body) => {
            chain.inFlight = false;
            chain.token = status === 200 ? JSON.parse(body).refresh_token : null;
          },
        }]);
      },
    },
    {
      key: 'create-user',
      title: 'create user (no password)',
      url: `${base}/v1/apps/${seed.writesApp.name}/users`,
      method: 'POST',
      headers: { ...admin, ...JSON_HEADERS },
      setupRequest: (request) => ({ ...request, body: JSON.stringify({ email: `new${created++}@writes.example.com` }) }),
    },
    { key: 'list-page-1', title: 'list users, page 1 (100 a page)', url: `${base}/v1/apps/${app}/users?limit=100&offset=0`, headers: admin },
    { key: 'list-page-100', title: 'list users, page 100 (offset 9,900)', url: `${base}/v1/apps/${app}/users?limit=100&offset=9900`, headers: admin },
    {
      key: 'audit-filter',
      title: `audit log, action filter (${Math.round(seed.auditEntries / 1000)}k entries)`,
      url: `${base}/v1/apps/${app}/audit-logs?action=user.created&limit=20`,
      headers: admin,
    },
  ];
}
