/**
 * JWT abuse (docs/security-decisions.md#forged-and-confused-tokens; RFC 8725; RFC 9068) against both verifiers of
 * Heimdall access tokens: `/v1/authorize`, and the edge SDK
 * (`createHeimdallVerifier`, `heimdallAuth`) a customer's service runs. One
 * set of forgeries (`forged-tokens.ts`) is built from a genuine user token
 * and from a genuine service token; every one is refused with one identical
 * answer, and neither the Worker nor the edge verifier fetches anything but
 * Heimdall's own JWKS and revocation feed (no `jku`, `x5u` or `jwk` is ever
 * followed).
 */
import { Hono } from 'hono';
import { beforeAll, describe, expect, it } from 'vitest';
import { HeimdallTokenError, createHeimdallVerifier } from '../../src/client';
import { heimdallAuth, type HeimdallVariables } from '../../src/client/hono';
import { BASE, PASSWORD, ROOT_KEY, authorizeCall, createUser, expectError, login, seedApp, workerFetch } from '../helpers';
import { EVIL_HOST, forgedTokens, type ForgedToken } from './forged-tokens';
import { buildWorld, type World } from './world';

/** Records every URL `fetch` is asked for while `during` runs, in this isolate (the Worker's code runs here too). */
async function outboundOf<T>(during: () => Promise<T>): Promise<{ result: T; urls: string[] }> {
  const original = globalThis.fetch;
  const urls: string[] = [];
  globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
    urls.push(input instanceof Request ? input.url : String(input));
    return original(input, init);
  }) as typeof fetch;
  try {
    return { result: await during(), urls };
  } finally {
    globalThis.fetch = original;
  }
}

/** An edge service's fetch: Heimdall's URLs reach the Worker, anything else is recorded and fails. */
function edgeFetch(urls: string[]): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    urls.push(url);
    if (!url.startsWith(`${BASE}/`)) throw new TypeError(`no network in tests: ${url}`);
    return workerFetch(url, init);
  }) as typeof fetch;
}

/** A header value can hold no line break: such forgeries reach the verifier, not the middleware. */
const sendable = (f: ForgedToken) => !/[\r\n\0]/.test(f.token);

describe.each(['user', 'service'] as const)('forged and foreign tokens, built from a %s token', (kind) => {
  let world: World;
  let genuine: string;
  let forged: ForgedToken[];

  beforeAll(async () => {
    world = await buildWorld();
    const other = await seedApp();
    if (kind === 'service') genuine = world.accessToken;
    else {
      const user = await createUser(world.app.name, { password: PASSWORD, role: world.roleName });
      genuine = (await login(world.app.name, user.email, PASSWORD)).body.access_token;
    }
    forged = await forgedTokens({
      token: genuine,
      other: { id: other.id, name: other.name },
      refreshToken: world.refreshToken,
      inviteToken: world.inviteToken,
      clientSecret: world.clientSecret,
      adminKey: world.key,
    });
  });

  it('are refused by /v1/authorize with one identical 401, with or without an admin key, and the Worker fetches nothing', async () => {
    expect(forged.length).toBeGreaterThanOrEqual(80);
    const { result: bodies, urls } = await outboundOf(async () => {
      const seen = new Map<string, string[]>();
      for (const { name, token } of forged) {
        for (const key of [null, ROOT_KEY]) {
          const res = await authorizeCall({ token, permission: 'projects:read' }, key);
          seen.set(res.text, [...(seen.get(res.text) ?? []), name]);
          if (res.status === 401) expectError(res, 401, 'INVALID_TOKEN');
        }
      }
      return seen;
    });
    // One answer for all: naming the forgeries that got another one.
    const [refusal] = [...bodies].sort((a, b) => b[1].length - a[1].length)[0]!;
    expect([...bodies].filter(([text]) => text !== refusal).map(([text, names]) => `${[...new Set(names)].join(', ')}: ${text.slice(0, 60)}`)).toEqual([]);
    expect(JSON.parse(refusal).error.code).toBe('INVALID_TOKEN');
    expect(urls).toEqual([]);
    // The genuine token still passes, so each refusal was about the forgery.
    const res = await authorizeCall({ token: genuine, permission: 'projects:read' });
    expect(res.body).toMatchObject({ allowed: true, app: world.app.name });
  });

  it('are refused by the edge verifier and heimdallAuth, which fetch only Heimdall\'s JWKS and feed', async () => {
    const urls: string[] = [];
    const options = { issuer: BASE, app: world.app.name, fetch: edgeFetch(urls), revocations: { intervalMs: 60_000 } };
    const verifier = createHeimdallVerifier(options);
    const service = new Hono<{ Variables: HeimdallVariables }>();
    service.use('/api/*', heimdallAuth(options));
    service.get('/api/me', (c) => c.json({ sub: c.get('heimdall').sub }));

    expect((await verifier.verify(genuine)).aud).toBe(world.app.name);
    const accepted: string[] = [];
    for (const { name, token } of forged.filter((f) => f.edge)) {
      const err = await verifier.verify(token).then(() => null, (e: unknown) => e);
      if (!(err instanceof HeimdallTokenError)) accepted.push(name);
    }
    expect(accepted, 'accepted by the verifier').toEqual([]);
    const answers = new Set<string>();
    for (const { name, token } of forged.filter((f) => f.edge && sendable(f))) {
      const res = await service.request('/api/me', { headers: { Authorization: `Bearer ${token}` } });
      if (res.status !== 401) accepted.push(name);
      expect(res.headers.get('WWW-Authenticate')).toBe('Bearer error="invalid_token"');
      answers.add(await res.text());
    }
    expect(accepted, 'let through by heimdallAuth').toEqual([]);
    expect(answers.size).toBe(1);
    expect((await service.request('/api/me', { headers: { Authorization: `Bearer ${genuine}` } })).status).toBe(200);

    expect(urls.filter((url) => url.includes(EVIL_HOST))).toEqual([]);
    const paths = urls.map((url) => new URL(url).pathname);
    expect(new Set(paths)).toEqual(new Set(['/v1/.well-known/jwks.json', `/v1/apps/${world.app.name}/revocations`]));
    // Unknown kids do not turn a verifier into a JWKS refetch loop (jose's cooldown):
    // two verifiers here, each fetching at most twice.
    expect(paths.filter((path) => path.endsWith('jwks.json')).length).toBeLessThanOrEqual(4);
  });
});
