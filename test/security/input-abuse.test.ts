/**
 * Input abuse on every route that takes a body (docs/security-decisions.md#malformed-and-hostile-input):
 * the JSON routes found by their `ROUTE_SCHEMA`, the token routes (JSON or
 * form, every grant) and invite accept. Malformed, oversized, deeply nested,
 * prototype-polluting and duplicate-keyed bodies, and SQL, control
 * characters, over-long strings and wrong types in every field: each answer
 * is a 4xx in the error shape, or a 2xx that stored the value as sent; never
 * a 5xx, never SQL or library text; a refused request writes nothing. Query
 * parameters of every route with a query schema get the same treatment.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { MAX_BODY_BYTES } from '../../src/app';
import { api, expectDetail, expectError, freshIp, type ApiResponse } from '../helpers';
import { callRoute } from './call';
import { BODY_ROUTES, ROUTES, bodiesOf, pathOf, type Route } from './routes';
import { buildWorld, mintRefreshToken, rowCounts, type World } from './world';

/** For the tests whose every request is refused: nothing in it changes. */
let shared: World;
beforeAll(async () => {
  shared = await buildWorld();
});

afterAll(() => {
  // Nothing any body sent reached a prototype.
  expect(({} as Record<string, unknown>).admin).toBeUndefined();
  expect(({} as Record<string, unknown>).x).toBeUndefined();
  expect(Object.prototype).not.toHaveProperty('polluted');
});

const SQL = ["x'); DROP TABLE users;--", '1 OR 1=1', "name';--", '%_%', '" OR ""="'];
const CONTROL = ['nul\u0000byte', 'line\r\nbreak', '\u001b[31mansi', 'bidi\u202eoverride', 'tab\tand\u007fdel'];
const LONG = 'a'.repeat(10_000);
const WRONG_TYPES: unknown[] = [12345, -1, 1.5, true, null, [], ['a', 1], {}, { nested: 'object' }];

/** Library, SQL or runtime text that must never reach an answer. */
const LEAK = /D1_|SQLITE|sqlite|syntax error|no such (table|column)|constraint failed|Failed query|at \w+ \(|TypeError|ZodError|drizzle/;

const isToken = (route: Route) => route.access === 'token';

/** What kind of value a body field holds (unwrapping optional, nullable, default and pipes). */
function kindOf(schema: z.ZodType | undefined): string {
  let def = (schema as { _zod?: { def: { type: string; innerType?: z.ZodType; in?: z.ZodType } } } | undefined)?._zod?.def;
  while (def && ['optional', 'nullable', 'default', 'prefault', 'pipe', 'readonly'].includes(def.type)) {
    def = ((def.innerType ?? def.in) as unknown as { _zod: { def: typeof def } })._zod.def;
  }
  return def?.type ?? 'unknown';
}

/** The fields of a route's body: its schema's, else (token routes) the valid body's. */
function fieldsOf(route: Route, body: Record<string, unknown>): Map<string, string> {
  const shape = (route.json as { shape?: Record<string, z.ZodType> } | undefined)?.shape;
  const names = shape ? Object.keys(shape) : Object.keys(body);
  return new Map(names.map((name) => [name, shape ? kindOf(shape[name]) : 'string']));
}

/**
 * Fields whose value is hashed, never stored or queried as text: one SQL and
 * one control string are enough there, and each further string accepted
 * would only cost a password hash (0.3 s).
 */
const HASHED = new Set(['password']);

/** The values to put in `field` of `kind`: the strings as they are, inside a list or a record when it holds those. */
function payloadsFor(field: string, kind: string): unknown[] {
  const strings = HASHED.has(field) ? [SQL[0]!, CONTROL[1]!, LONG] : [...SQL, ...CONTROL, LONG];
  const wrapped = kind === 'array' ? strings.map((s) => [s]) : kind === 'record' ? [...strings.map((s) => ({ k: s })), ...SQL.map((s) => ({ [s]: 'v' }))] : [];
  return [...strings, ...wrapped, ...WRONG_TYPES];
}

interface Checked {
  res: ApiResponse;
  accepted: boolean;
}

/**
 * Sends one abusive request and checks the invariants: never a 5xx or leaked
 * library text; a refusal is a 4xx in the error shape that changed no row
 * (the audit log included, `auth.failed` apart: a refused login writes it by
 * design); an acceptance removed no row.
 */
async function abuse(label: string, send: () => Promise<ApiResponse>, options: { read?: boolean } = {}): Promise<Checked> {
  // A read cannot write: its row counts are not worth two queries a request.
  const counts = options.read ? async (): Promise<Record<string, number>> => ({}) : rowCounts;
  const before = await counts();
  const res = await send();
  expect(res.status, `${label}: ${res.text.slice(0, 200)}`).toBeLessThan(500);
  expect(res.text, label).not.toMatch(LEAK);
  const after = await counts();
  if (res.status >= 400) {
    expectError(res, res.status, res.body.error.code);
    expect(after, `${label} was refused but wrote`).toEqual(before);
    return { res, accepted: false };
  }
  expect(res.status, label).toBeGreaterThanOrEqual(200);
  for (const [table, n] of Object.entries(before)) expect(after[table], `${label} removed ${table} rows`).toBeGreaterThanOrEqual(n);
  return { res, accepted: true };
}

/** The route that reads back what a create (POST) or update (PATCH) route wrote, when the router has one. */
function readBackOf(route: Route): Route | undefined {
  if (route.method === 'PATCH') return ROUTES.find((r) => r.method === 'GET' && r.path === route.path);
  if (route.method !== 'POST') return undefined;
  // `POST /x` is read back by `GET /x/:id`: one segment more, a parameter.
  return ROUTES.find((r) => r.method === 'GET' && /^\/:[a-z_]+$/.test(r.path.slice(route.path.length)) && r.path.startsWith(route.path));
}

/**
 * A 2xx that names the field stored it exactly as sent, neither mangled nor
 * truncated: in the answer, and as read back from storage through the
 * resource's GET route when there is one.
 */
async function expectStoredAsSent(label: string, route: Route, w: World, res: ApiResponse, field: string, value: unknown): Promise<void> {
  if (!res.body || typeof res.body !== 'object' || !(field in res.body)) return;
  expect(res.body[field], label).toEqual(value);
  const read = readBackOf(route);
  if (!read) return;
  const param = read.params.at(-1)!;
  const stored = await callRoute(read, w, { params: route.method === 'POST' ? { [param]: param.endsWith('_name') ? res.body.name : res.body.id } : {} });
  expect(stored.status, `${label}: ${stored.text}`).toBe(200);
  expect(stored.body[field], `${label}, read back`).toEqual(value);
}

function rawRequest(route: Route, w: World, raw: string, contentType: string | null): Promise<ApiResponse> {
  return callRoute(route, w, { raw, headers: contentType === null ? {} : { 'Content-Type': contentType } });
}

/** Every (route, body) pair: the minimal body of each route with one, and each grant of the token endpoint. */
const CASES = BODY_ROUTES.flatMap((route) => bodiesOf(route).map(([variant, body]) => ({ name: `${route.id} (${variant})`, route, variant, body })));

describe('every route with a body', () => {
  it('is in the table with its body, the token routes and invite accept included', () => {
    expect(CASES.map((c) => c.name)).toEqual(expect.arrayContaining([
      'POST /v1/apps (minimal)',
      'POST /v1/apps/:app_name/tokens (password)',
      'POST /v1/apps/:app_name/tokens (refresh_token)',
      'POST /v1/apps/:app_name/tokens/revoke (minimal)',
      'POST /v1/invites/:invite_token/accept (minimal)',
      'POST /v1/authorize (minimal)',
    ]));
    expect(CASES.length).toBeGreaterThanOrEqual(18);
  });

  it.each(CASES)('$name refuses malformed bodies with a 4xx and writes nothing', async ({ route, body }) => {
    const w = shared;
    const valid = JSON.stringify(body(w));
    const first = Object.keys(body(w))[0]!;
    const json = 'application/json';
    const malformed: [string, string, string | null, number, string?][] = [
      ['invalid JSON', '{"a":', json, 400, 'invalid_json'],
      ['an empty body', '', json, 400],
      ['JSON null', 'null', json, 400],
      ['a JSON list', '[]', json, 400],
      ['a JSON string', '"text"', json, 400],
      ['a JSON number', '42', json, 400],
      ['JSON sent as text/plain', valid, 'text/plain', 400, 'unsupported_media_type'],
      ['JSON without a content type', valid, null, 400, 'unsupported_media_type'],
      ['JSON said to be UTF-16', valid, 'application/json; charset=utf-16', 400, 'unsupported_media_type'],
      ['10,000 nested lists', `${'['.repeat(10_000)}${']'.repeat(10_000)}`, json, 400, 'too_deep'],
      ['10,000 nested objects', `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`, json, 400, 'too_deep'],
      ['a key sent twice', `{${JSON.stringify(first)}:1,${valid.slice(1)}`, json, 400, 'duplicate_field'],
      ['a __proto__ key', `{"__proto__":{"admin":true,"polluted":1},${valid.slice(1)}`, json, 400, 'forbidden_key'],
      ['a nested __proto__ key', `{"metadata":{"a":[1,{"__proto__":{"admin":true}}]},${valid.slice(1)}`, json, 400, 'forbidden_key'],
    ];
    if (route.json) malformed.push(['a form body', new URLSearchParams(body(w) as Record<string, string>).toString(), 'application/x-www-form-urlencoded', 400, 'unsupported_media_type']);
    for (const [label, raw, type, status, reason] of malformed) {
      const { res } = await abuse(label, () => rawRequest(route, w, raw, type));
      expect(res.status, `${label}: ${res.text}`).toBe(status);
      const field = { duplicate_field: first, unsupported_media_type: 'Content-Type', forbidden_key: label.includes('nested') ? 'metadata.a.1.__proto__' : '__proto__' }[reason ?? ''] ?? 'body';
      if (reason) expectDetail(res, field, reason);
    }
    // Over 64 KiB by one byte: 413, before anything is parsed.
    const oversized = `{"x":"${'a'.repeat(MAX_BODY_BYTES + 1 - 8)}"}`;
    expect(new TextEncoder().encode(oversized).length).toBe(MAX_BODY_BYTES + 1);
    expectError((await abuse('64 KiB + 1', () => rawRequest(route, w, oversized, json))).res, 413, 'PAYLOAD_TOO_LARGE');
  });

  it.each(CASES)('$name refuses SQL, control characters, long strings and wrong types in each field, or stores them as sent', async ({ route, body }) => {
    const w = await buildWorld();
    // One client IP for the whole test: a new one would cost a new rate-limit bucket per request.
    const ip = freshIp();
    for (const [field, kind] of fieldsOf(route, body(w))) {
      for (const value of payloadsFor(field, kind)) {
        const label = `${field} = ${JSON.stringify(value).slice(0, 40)}`;
        // A fresh refresh token each time: a valid one is spent by the first request that uses it.
        if (route.path.includes('/tokens')) w.refreshToken = await mintRefreshToken(w.app.id, w.userId);
        const { res, accepted } = await abuse(label, () => callRoute(route, w, { body: { ...body(w), [field]: value }, headers: { 'CF-Connecting-IP': ip } }));
        if (accepted && !isToken(route)) await expectStoredAsSent(label, route, w, res, field, value);
      }
    }
  });

  it.each(CASES.filter((c) => c.route.json))('$name refuses an unknown field, a tenant hint included', async ({ route, body }) => {
    const w = shared;
    for (const extra of ['app_id', 'id', 'is_admin', 'password_hash', 'constructor']) {
      const { res } = await abuse(extra, () => callRoute(route, w, { body: { ...body(w), [extra]: extra === 'constructor' ? { prototype: { x: 1 } } : 'x' } }));
      expectError(res, 400, 'VALIDATION_ERROR');
      expectDetail(res, extra, 'unknown_field');
    }
  });
});

const TOKEN_CASES = CASES.filter((c) => isToken(c.route) && c.route.path.includes('/tokens') && c.variant !== 'password');

describe('the token endpoints (RFC 6749 §3.2)', () => {
  it.each(TOKEN_CASES)('$name ignores unknown parameters, in JSON and in a form', async ({ route, body }) => {
    const w = await buildWorld();
    for (const form of [false, true]) {
      w.refreshToken = await mintRefreshToken(w.app.id, w.userId);
      const params = { ...body(w), scope: 'openid profile', resource: 'https://evil.example', constructor: 'x', app_id: 'app_00000000000000000000000000' } as Record<string, string>;
      const res = form
        ? await api(route.method, pathOf(route, w), { key: null, raw: new URLSearchParams(params).toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } })
        : await api(route.method, pathOf(route, w), { key: null, body: params });
      expect(res.status, res.text).toBe(200);
    }
  });

  it.each(TOKEN_CASES)('$name refuses a parameter sent twice, in JSON and in a form', async ({ route, body }) => {
    const w = await buildWorld();
    const params = body(w) as Record<string, string>;
    const [name, value] = Object.entries(params)[0]!;
    const form = `${new URLSearchParams(params).toString()}&${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
    for (const [raw, type] of [[form, 'application/x-www-form-urlencoded'], [`{${JSON.stringify(name)}:${JSON.stringify(value)},${JSON.stringify(params).slice(1)}`, 'application/json']] as const) {
      const { res } = await abuse(`${name} twice`, () => rawRequest(route, w, raw, type));
      expectError(res, 400, 'VALIDATION_ERROR');
      expectDetail(res, name, 'duplicate_field');
    }
    // A prototype key twice is a repetition like any other, never silently merged.
    const { res } = await abuse('__proto__ twice', () => rawRequest(route, w, `${new URLSearchParams(params).toString()}&__proto__=a&__proto__=b`, 'application/x-www-form-urlencoded'));
    expectDetail(res, '__proto__', 'duplicate_field');
  });
});

/** Routes with a query schema, and the fields it names. */
const QUERY_ROUTES = ROUTES.filter((r) => r.query);

describe('every route with query parameters', () => {
  it.each(QUERY_ROUTES)('$id refuses or treats as text SQL, control characters, long, repeated and unknown parameters', async (route) => {
    const w = shared;
    const fields = Object.keys((route.query as unknown as { shape: Record<string, unknown> }).shape);
    // Each query with the parameter it abuses: an unknown one must be refused
    // by name; a known one is refused naming it, or answered 200.
    const queries: { query: string; param: string }[] = ['unknown', '__proto__', 'constructor', 'app_id', 'field[]']
      .filter((param) => !fields.includes(param))
      .map((param) => ({ query: `?${encodeURIComponent(param)}=x`, param }));
    for (const field of fields) {
      for (const value of [...SQL, ...CONTROL, LONG, '-1', '1e3', '']) queries.push({ query: `?${field}=${encodeURIComponent(value)}`, param: field });
      queries.push({ query: `?${field}=1&${field}=2`, param: field }, { query: `?${field}%5B%5D=1`, param: `${field}[]` });
    }
    for (const { query, param } of queries) {
      const { res } = await abuse(query.slice(0, 60), () => callRoute(route, w, { query }), { read: !route.write });
      if (!fields.includes(param)) {
        const error = expectError(res, 400, 'VALIDATION_ERROR');
        expect(error.details?.map((d) => d.field), `${route.id}${query}`).toContain(param);
      } else if (res.status >= 400) {
        const error = expectError(res, 400, 'VALIDATION_ERROR');
        expect(error.details?.map((d) => d.field), `${route.id}${query.slice(0, 60)}`).toContain(param);
      } else {
        expect(res.status, `${route.id}${query.slice(0, 60)}`).toBe(200);
      }
    }
  });
});
