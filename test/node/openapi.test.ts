/**
 * The OpenAPI document, checked in Node (the validator compiles JSON Schema
 * to code, which workerd forbids): valid OpenAPI 3.1 by a real validator, and
 * complete, compared against the router's own route list.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import { OPERATIONS } from '../../src/openapi/operations';

async function fetchDocument(base = 'https://api.productcraft.co') {
  const res = await app.request(`${base}/v1/openapi.json`, {}, { PUBLIC_BASE_URL: base });
  expect(res.status).toBe(200);
  expect(res.headers.get('Cache-Control')).toBe('public, max-age=300');
  return (await res.json()) as any;
}

const served = [
  ...new Set(app.routes.filter((r) => r.method !== 'ALL' && r.path.startsWith('/v1/')).map((r) => `${r.method} ${r.path}`)),
];

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1', async () => {
    const validator = new Validator();
    const result = await validator.validate(await fetchDocument());
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('describes every route the router serves, and nothing else', async () => {
    const doc = await fetchDocument();
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${path.replace(/\{([A-Za-z_]+)\}/g, ':$1')}`),
    );
    expect(served.length).toBeGreaterThan(30);
    expect(documented.sort()).toEqual([...served].sort());
    for (const route of served) expect(OPERATIONS[route], `no summary for ${route}`).toBeDefined();
    expect(Object.keys(OPERATIONS).sort()).toEqual([...served].sort());
  });

  it('takes request schemas from the validators, with the reference examples', async () => {
    const doc = await fetchDocument();
    const createApp = doc.paths['/v1/apps'].post;
    const body = createApp.requestBody.content['application/json'];
    expect(body.schema.required).toEqual(['name']);
    expect(body.schema.additionalProperties).toBe(false);
    expect(body.schema.properties.name.pattern).toBe('^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$');
    expect(body.example).toEqual({ name: 'acme-corp', display_name: 'Acme Corporation', metadata: { plan: 'growth', region: 'us-east-1' } });
    expect(createApp.responses['201'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/App' });
    expect(createApp.responses['201'].content['application/json'].example.name).toBe('acme-corp');
    const listUsers = doc.paths['/v1/apps/{app_name}/users'].get;
    expect(listUsers.parameters.map((p: { name: string }) => p.name)).toEqual(['app_name', 'limit', 'offset', 'status', 'role', 'email']);
  });

  it('declares its security schemes and every error answer in the error shape', async () => {
    const doc = await fetchDocument();
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['adminKey', 'clientBasic', 'userBearer']);
    const getApp = doc.paths['/v1/apps/{app_name}'].get;
    expect(getApp.security).toEqual([{ adminKey: [] }]);
    expect(Object.keys(getApp.responses)).toEqual(expect.arrayContaining(['200', '401', '403', '404', '429', '500', '503']));
    expect(getApp.responses['401'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
    expect(doc.paths['/v1/authorize'].post.security).toEqual([{}, { adminKey: [] }]);
    expect(doc.paths['/v1/.well-known/jwks.json'].get.security).toEqual([]);
    expect(doc.components.schemas.Error.properties.error.properties.code.enum).toContain('VALIDATION_ERROR');
  });

  it('names the deployment it is served by, base path included', async () => {
    expect((await fetchDocument('https://auth.example.com')).servers).toEqual([{ url: 'https://auth.example.com' }]);
  });
});

describe('the docs page', () => {
  it('renders every operation, escaped, with no script and no external asset', async () => {
    const res = await app.request('https://api.productcraft.co/docs', {}, { PUBLIC_BASE_URL: 'https://api.productcraft.co' });
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toMatch(/^text\/html/);
    expect(res.headers.get('Content-Security-Policy')).toBe("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
    const page = await res.text();
    expect(page).not.toMatch(/<script|https?:\/\/(?!api\.productcraft\.co)[a-z]/i);
    for (const route of served) expect(page).toContain(route.split(' ')[1]!.replace(/:([A-Za-z_]+)/g, '{$1}'));
  });
});
