/**
 * The OpenAPI 3.1 document, generated from the router itself: every route it
 * serves, with request bodies and query parameters converted from the very
 * zod schemas that validate them (carried by `jsonBody`/`query`), responses
 * from `resources.ts`, summaries and examples from `operations.ts`.
 */
import { z } from 'zod';
import { ROUTE_SCHEMA, type RouteSchemaMeta } from '../lib/validation';
import { OPERATIONS, type OperationDoc } from './operations';
import { errorResource } from './resources';

export interface RouteEntry {
  method: string;
  path: string;
  handler: unknown;
}

export interface RouteClasses {
  /** Routes that take no admin key (everything else is an admin route). */
  publicRoutes: readonly string[];
  /** Public routes that are not rate-limited (documents). */
  documentRoutes: readonly string[];
  /** The routes whose admin key is optional. */
  optionalKeyRoutes: readonly string[];
  /** Token routes that accept HTTP Basic client authentication. */
  basicAuthRoutes: readonly string[];
}

type JsonSchema = Record<string, unknown>;

const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid input (VALIDATION_ERROR), with `details` per field',
  401: 'Missing or invalid credentials (UNAUTHORIZED, INVALID_CREDENTIALS or INVALID_TOKEN)',
  403: 'The admin key may not do this (FORBIDDEN)',
  404: 'Not found (NOT_FOUND)',
  405: 'Method not allowed (METHOD_NOT_ALLOWED), with `Allow`',
  409: 'Conflict (CONFLICT, or APP_ARCHIVED on an archived app)',
  410: 'Expired, used-up or revoked (GONE)',
  413: 'Body over 64 KiB (PAYLOAD_TOO_LARGE)',
  429: 'Rate limited (RATE_LIMITED), with `Retry-After`',
  500: 'Internal error (INTERNAL_ERROR), never a stack trace',
  503: 'Storage or a Durable Object failed (UNAVAILABLE); nothing changed',
};

/** `/v1/apps/:app_name` -> `/v1/apps/{app_name}`, with the parameter names. */
function openApiPath(path: string): { path: string; params: string[] } {
  const params: string[] = [];
  const converted = path.replace(/:([A-Za-z_]+)/g, (_, name: string) => {
    params.push(name);
    return `{${name}}`;
  });
  return { path: converted, params };
}

/** JSON Schema of `schema` as a client sends it (before transforms), or null when nothing in it is representable. */
function inputSchema(schema: z.ZodType): JsonSchema {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  delete json.$schema;
  return json;
}

function schemaMeta(handlers: unknown[]): RouteSchemaMeta {
  const meta: RouteSchemaMeta = {};
  for (const handler of handlers) {
    const carried = (handler as { [ROUTE_SCHEMA]?: RouteSchemaMeta })[ROUTE_SCHEMA];
    if (carried?.json) meta.json = carried.json;
    if (carried?.query) meta.query = carried.query;
  }
  return meta;
}

function errorStatuses(method: string, path: string, meta: RouteSchemaMeta, classes: RouteClasses): number[] {
  const statuses = new Set<number>([500, 503]);
  const isPublic = classes.publicRoutes.includes(path);
  if (!classes.documentRoutes.includes(path)) statuses.add(429);
  if (meta.json || meta.query || path.includes('/tokens')) statuses.add(400);
  if (meta.json || method === 'POST' || method === 'PATCH') statuses.add(413);
  if (!isPublic || classes.optionalKeyRoutes.includes(path) || path.includes('/tokens')) statuses.add(401);
  if (!isPublic) statuses.add(403);
  if (path.includes(':')) statuses.add(404);
  if ((!isPublic && method !== 'GET') || path.includes('/tokens') || path.includes('/invites/')) statuses.add(409);
  if (path.includes('/invites/') && path.endsWith('/accept')) statuses.add(410);
  return [...statuses].sort();
}

function componentSchemas(): { schemas: Record<string, JsonSchema>; refFor: (schema: z.ZodType) => JsonSchema } {
  const registry = z.registry<{ id: string }>();
  const ids = new Map<z.ZodType, string>();
  const collect = (schema: z.ZodType) => {
    const id = (schema.meta() as { id?: string } | undefined)?.id;
    if (id && !ids.has(schema)) {
      ids.set(schema, id);
      registry.add(schema, { id });
    }
  };
  collect(errorResource);
  for (const doc of Object.values(OPERATIONS)) if (doc.response) collect(doc.response);
  const generated = z.toJSONSchema(registry, { uri: (id) => `#/components/schemas/${id}`, target: 'draft-2020-12', unrepresentable: 'any' }) as {
    schemas: Record<string, JsonSchema>;
  };
  const schemas: Record<string, JsonSchema> = {};
  for (const [id, schema] of Object.entries(generated.schemas)) {
    const { $schema: _ignored, $id: _id, ...rest } = schema;
    schemas[id] = rest;
  }
  return {
    schemas,
    refFor: (schema) => {
      const id = ids.get(schema);
      return id ? { $ref: `#/components/schemas/${id}` } : inputSchema(schema);
    },
  };
}

function responseFor(doc: OperationDoc, refFor: (s: z.ZodType) => JsonSchema): Record<string, unknown> {
  if (!doc.response) {
    return { description: doc.summary, content: { [doc.mediaType ?? 'application/json']: { schema: { type: 'object' } } } };
  }
  const content: Record<string, unknown> = { schema: refFor(doc.response) };
  const example = doc.responseExample ?? (doc.response.meta() as { example?: unknown } | undefined)?.example;
  if (example !== undefined) content.example = example;
  return { description: doc.summary, content: { [doc.mediaType ?? 'application/json']: content } };
}

export function buildOpenApiDocument(routes: readonly RouteEntry[], classes: RouteClasses, serverUrl: string): Record<string, unknown> {
  const grouped = new Map<string, { method: string; path: string; handlers: unknown[] }>();
  for (const route of routes) {
    if (route.method === 'ALL' || !route.path.startsWith('/v1/')) continue;
    const key = `${route.method} ${route.path}`;
    const entry = grouped.get(key) ?? { method: route.method, path: route.path, handlers: [] };
    entry.handlers.push(route.handler);
    grouped.set(key, entry);
  }
  const { schemas, refFor } = componentSchemas();
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [key, { method, path, handlers }] of grouped) {
    const doc = OPERATIONS[key] ?? { summary: key, tag: 'Other', status: 200, response: null };
    const meta = schemaMeta(handlers);
    const { path: apiPath, params } = openApiPath(path);
    const parameters: Record<string, unknown>[] = params.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
    if (meta.query) {
      const query = inputSchema(meta.query) as { properties?: Record<string, JsonSchema>; required?: string[] };
      for (const [name, schema] of Object.entries(query.properties ?? {})) {
        parameters.push({ name, in: 'query', required: query.required?.includes(name) ?? false, schema });
      }
    }
    const operation: Record<string, unknown> = {
      operationId: `${method.toLowerCase()}${apiPath.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      summary: doc.summary,
      tags: [doc.tag],
      parameters,
      responses: {
        [String(doc.status)]: responseFor(doc, refFor),
        ...Object.fromEntries(
          errorStatuses(method, path, meta, classes).map((status) => [
            String(status),
            { description: ERROR_TEXT[status], content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
          ]),
        ),
      },
    };
    if (doc.description) operation.description = doc.description;
    if (meta.json) {
      const body: Record<string, unknown> = { schema: inputSchema(meta.json) };
      if (doc.requestExample !== undefined) body.example = doc.requestExample;
      operation.requestBody = { required: true, content: { 'application/json': body } };
    } else if (doc.requestExample !== undefined) {
      operation.requestBody = {
        required: true,
        content: {
          'application/json': { schema: { type: 'object' }, example: doc.requestExample },
          'application/x-www-form-urlencoded': { schema: { type: 'object' } },
        },
      };
    }
    if (!classes.publicRoutes.includes(path)) operation.security = [{ adminKey: [] }];
    else if (classes.optionalKeyRoutes.includes(path)) operation.security = [{}, { adminKey: [] }];
    else if (classes.basicAuthRoutes.includes(path)) operation.security = [{}, { clientBasic: [] }];
    else operation.security = [];
    paths[apiPath] ??= {};
    paths[apiPath][method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Heimdall API',
      version: '1.0.0',
      description: 'Edge-native multi-tenant authentication and authorization. Errors always have the shape `{"error": {"code", "message", "details"}}`.',
    },
    servers: [{ url: serverUrl }],
    tags: [...new Set(Object.values(OPERATIONS).map((o) => o.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas,
      securitySchemes: {
        adminKey: { type: 'http', scheme: 'bearer', description: 'The root admin key or a managed `hk_...` key.' },
        userBearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'A Heimdall access token (RS256, `typ: at+jwt`), as your own services receive it; verify it with the JWKS or /v1/authorize.',
        },
        clientBasic: { type: 'http', scheme: 'basic', description: 'client_id and client_secret of a service credential (RFC 6749 §2.3.1).' },
      },
    },
  };
}
