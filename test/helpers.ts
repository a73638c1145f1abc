/**
 * Test helpers: every request goes through the Worker's own `fetch` (the
 * default export of src/index.ts, as the runtime calls it) against real local
 * D1 and Durable Objects. Each test builds its own app with a unique name, so
 * tests never depend on order or on each other.
 */
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { expect } from 'vitest';
import worker from '../src/index';

export const ROOT_KEY = env.HEIMDALL_ROOT_KEY as string;
/** The origin the suites call: the deployment's PUBLIC_BASE_URL, or localhost in the root-key-only project. */
export const BASE = env.TEST_BASE_URL as string;

/** The password of the suites' users: one value, which the hygiene sweep looks for in every answer. */
export const PASSWORD = 'correct horse battery staple';
/** A second password (a changed one, or a second user's), swept for like the first. */
export const OTHER_PASSWORD = 'another long passphrase';

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface RequestOptions {
  body?: unknown;
  /** Raw body text, sent as is. */
  raw?: string;
  /** Admin key; `null` sends no Authorization header. Defaults to the root key. */
  key?: string | null;
  headers?: Record<string, string>;
  /** The Worker's bindings; default the test environment's (failure tests swap one out). */
  bindings?: typeof env;
}

/** Every JSON body the suite receives, for the response-hygiene sweep. */
export const seenBodies: string[] = [];

/**
 * The API's own documentation names request fields such as `password` and
 * holds no data: the hygiene sweeps skip it.
 */
export function isDocumentation(path: string): boolean {
  return /^\/(v1\/openapi\.json|docs)(\?|$)/.test(path);
}

/**
 * One request to the Worker, with an execution context of its own whose
 * `waitUntil` work is awaited. Called directly rather than through
 * `SELF.fetch`, whose cost in the test pool grows with every request a file
 * has made (from 7 ms to over 100 ms after a few hundred requests), which
 * table-driven suites over every route cannot afford.
 */
export async function workerFetch(input: string | URL | Request, init?: RequestInit, bindings: typeof env = env): Promise<Response> {
  const ctx = createExecutionContext();
  // The type of an incoming request (with its `cf` properties); the tests send none.
  const res = await worker.fetch(new Request(input, init) as Parameters<typeof worker.fetch>[0], bindings, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

export async function api<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  const key = options.key === undefined ? ROOT_KEY : options.key;
  if (key !== null && headers.Authorization === undefined) headers.Authorization = `Bearer ${key}`;
  let body: string | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['Content-Type'] ??= 'application/json';
  }
  const res = await workerFetch(`${BASE}${path}`, { method, headers, body }, options.bindings);
  // Read as bytes: workerd warns when a non-text type (the NDJSON export) is read with `.text()`.
  const text = new TextDecoder().decode(await res.arrayBuffer());
  if (!isDocumentation(path)) seenBodies.push(text);
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}

let counter = 0;
/** A name unique to this test run, valid as an app or role name. */
export function uniqueName(prefix = 'app'): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

export async function seedApp(overrides: Record<string, unknown> = {}): Promise<any> {
  const res = await api('POST', '/v1/apps', { body: { name: uniqueName(), display_name: 'Test App', ...overrides } });
  expect(res.status).toBe(201);
  return res.body;
}

/** Asserts the error shape of docs/api-conventions.md#errors and returns the error. */
export function expectError(res: ApiResponse, status: number, code: string): { code: string; message: string; details?: { field: string; reason: string }[] } {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('Content-Type')).toMatch(/^application\/json/);
  expect(Object.keys(res.body)).toEqual(['error']);
  const error = res.body.error;
  expect(error.code).toBe(code);
  expect(typeof error.message).toBe('string');
  expect(error.message.length).toBeGreaterThan(0);
  for (const key of Object.keys(error)) expect(['code', 'message', 'details']).toContain(key);
  if (error.details !== undefined) {
    expect(Array.isArray(error.details)).toBe(true);
    for (const d of error.details) {
      expect(Object.keys(d).sort()).toEqual(['field', 'reason']);
    }
  }
  return error;
}

export function expectDetail(res: ApiResponse, field: string, reason: string): void {
  expect(res.body?.error?.details ?? [], res.text).toContainEqual({ field, reason });
}

/** Audit rows of an app, read straight from D1 (oldest first). */
export async function auditRows(appId: string | null, action?: string): Promise<any[]> {
  const where = appId === null ? 'app_id IS NULL' : 'app_id = ?1';
  const sql = `SELECT * FROM audit_logs WHERE ${where}${action ? ` AND action = ?2` : ''} ORDER BY id`;
  const stmt = env.DB.prepare(sql);
  const bound = appId === null ? (action ? stmt.bind(null, action) : stmt) : action ? stmt.bind(appId, action) : stmt.bind(appId);
  const { results } = await bound.all();
  return results;
}

export const ISO_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
export const ULID = '[0-9A-HJKMNP-TV-Z]{26}';
export function idPattern(prefix: string): RegExp {
  return new RegExp(`^${prefix}${ULID}$`);
}

/** Members that must never appear in any answer (docs/security-decisions.md#secrets-in-answers). */
const FORBIDDEN_MEMBERS = /"(password|password_hash|passwordHash|hash|salt|secret_hash|secretHash|token_hash|key_hash|private_jwk|private_jwk_sealed|d|p|q|dp|dq|qi)"\s*:/;

/**
 * Scans every JSON body this test file received for password or hash
 * members and for argon2 hash strings; `secrets` are values (passwords,
 * tokens) that must not appear either.
 */
export function expectCleanResponses(secrets: string[] = []): void {
  for (const body of seenBodies) {
    expect(body, 'an answer carries a secret-bearing member').not.toMatch(FORBIDDEN_MEMBERS);
    expect(body, 'an answer carries a password hash').not.toContain('$argon2');
    for (const secret of secrets) expect(body.includes(JSON.stringify(secret).slice(1, -1)), `an answer carries ${secret.slice(0, 6)}…`).toBe(false);
  }
}

/**
 * Each of `secrets` (invite tokens, client secrets) appears in exactly one
 * answer this test file received: the one that issued it.
 */
export function expectIssuedOnce(secrets: string[]): void {
  for (const secret of new Set(secrets)) {
    const answers = seenBodies.filter((body) => body.includes(secret)).length;
    expect(answers, `${secret.slice(0, 12)}… is in ${answers} answers`).toBe(1);
  }
}

/**
 * Values no answer of this file may carry: the suites' passwords and the
 * root key, plus what a file adds with `neverInAnswers`.
 */
const forbiddenValues = new Set<string>([PASSWORD, OTHER_PASSWORD, ROOT_KEY].filter((v) => typeof v === 'string' && v !== ''));
/** Secrets of this file that may be shown once, by the answer that issued them (`issuedOnce`). */
const issuedSecrets: string[] = [];

/** Adds values (a password only this file uses, say) that no answer of this file may carry. */
export function neverInAnswers(...values: string[]): void {
  for (const value of values) forbiddenValues.add(value);
}

/** Records a secret (invite token, client secret, admin key) the file was issued: no other answer may repeat it. Returns it. */
export function issuedOnce<T extends string>(secret: T): T {
  issuedSecrets.push(secret);
  return secret;
}

/**
 * The response-hygiene sweep (docs/security-decisions.md#secrets-in-answers) over every answer this test
 * file got: no secret-bearing member or hash, none of the forbidden values,
 * and each issued secret in exactly one answer. test/setup/response-hygiene.ts
 * runs it after every file.
 */
export function expectHygiene(): void {
  expectCleanResponses([...forbiddenValues]);
  expectIssuedOnce(issuedSecrets);
}

export async function createRole(appName: string, body: Record<string, unknown>): Promise<any> {
  const res = await api('POST', `/v1/apps/${appName}/roles`, { body });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

/** Creates a managed admin key through the API (root); returns the create answer, `key` included. */
export async function createAdminKey(body: Record<string, unknown> = {}): Promise<any> {
  const res = await api('POST', '/v1/admin-keys', { body: { name: 'Test key', ...body } });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

export async function createUser(appName: string, body: Record<string, unknown> = {}): Promise<any> {
  const res = await api('POST', `/v1/apps/${appName}/users`, { body: { email: `${uniqueName('user')}@example.com`, ...body } });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

export async function count(sql: string, ...params: unknown[]): Promise<number> {
  return (await env.DB.prepare(sql).bind(...params).first<number>('n')) ?? 0;
}

let ipCounter = 0;
/** A fresh client IP (so the per-IP login counter of one test never throttles another). */
export function freshIp(): string {
  ipCounter += 1;
  return `198.18.${Math.floor(ipCounter / 250) % 250}.${(ipCounter % 250) + 1}`;
}

export interface Login {
  status: number;
  body: any;
  headers: Headers;
  text: string;
}

/** `grant_type=password` on the app's token endpoint, as a client would send it; `bindings` to run the Worker with other settings. */
export async function login(appName: string, email: string, password: string, ip: string = freshIp(), bindings?: typeof env): Promise<Login> {
  return api('POST', `/v1/apps/${appName}/tokens`, {
    key: null,
    body: { grant_type: 'password', email, password },
    headers: { 'CF-Connecting-IP': ip },
    ...(bindings ? { bindings } : {}),
  });
}

export async function authorizeCall(body: Record<string, unknown>, key: string | null = null): Promise<ApiResponse> {
  return api('POST', '/v1/authorize', { key, body });
}

/** A verifier built the way a customer's service would: jose's remote JWKS against our endpoint. */
export async function verifyLikeAClient(token: string, appName: string) {
  const { createRemoteJWKSet, customFetch, jwtVerify } = await import('jose');
  const jwks = createRemoteJWKSet(new URL(`${BASE}/v1/.well-known/jwks.json`), {
    [customFetch]: (url: string, init: RequestInit) => workerFetch(url, init),
  });
  return jwtVerify(token, jwks, { algorithms: ['RS256'], issuer: BASE, audience: appName, typ: 'at+jwt' });
}

/** Polls `check` until it returns true, for at most `ms` (state that must change within a bound). */
export async function eventually(check: () => Promise<boolean>, ms = 5_000, every = 100): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > ms) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, every));
  }
}

/** Hex SHA-256, as admin keys are stored. */
export async function sha256Hex(value: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(value)));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
}
