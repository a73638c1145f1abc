/**
 * Request validation: zod schemas are the single source of truth, and every
 * failure becomes a 400 VALIDATION_ERROR with one `details` entry per field.
 *
 * `jsonBody` reads the (size-capped) body itself so it can refuse a wrong
 * content type, invalid JSON, duplicate keys, `__proto__` keys and absurd
 * nesting before zod sees anything; `query` wraps `@hono/zod-validator`.
 */
import { zValidator } from '@hono/zod-validator';
import type { MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import { ApiError, type ErrorDetail } from './errors';
import type { AppEnv } from './context';
import { parseStrictJson } from './json';

/** Route documentation carried by validator middleware (read by the OpenAPI builder). */
export const ROUTE_SCHEMA = Symbol.for('heimdall.route-schema');

export interface RouteSchemaMeta {
  json?: z.ZodType;
  query?: z.ZodType;
}

type ValidatorMiddleware<Target extends 'json' | 'query', S extends z.ZodType> = MiddlewareHandler<
  AppEnv,
  string,
  { in: { [K in Target]: z.input<S> }; out: { [K in Target]: z.output<S> } }
> & { [ROUTE_SCHEMA]: RouteSchemaMeta };

const JSON_MEDIA_TYPE = /^application\/json\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

/** Reads the request body as strict JSON, or throws the matching 400. */
export async function readJson(c: Parameters<MiddlewareHandler<AppEnv>>[0]): Promise<unknown> {
  const contentType = c.req.header('Content-Type') ?? '';
  if (!JSON_MEDIA_TYPE.test(contentType.trim())) {
    throw new ApiError('VALIDATION_ERROR', 'Content-Type must be application/json', {
      details: [{ field: 'Content-Type', reason: 'unsupported_media_type' }],
    });
  }
  return parseJsonText(await c.req.text());
}

const BLANK = /^\s*$/;

export function parseJsonText(text: string): unknown {
  if (BLANK.test(text)) {
    throw new ApiError('VALIDATION_ERROR', 'a JSON body is required', {
      details: [{ field: 'body', reason: 'required' }],
    });
  }
  const parsed = parseStrictJson(text);
  if (parsed.ok) return parsed.value;
  switch (parsed.problem) {
    case 'duplicate_key':
      throw new ApiError('VALIDATION_ERROR', `${parsed.key} appears more than once`, {
        details: [{ field: parsed.key ?? 'body', reason: 'duplicate_field' }],
      });
    case 'forbidden_key':
      throw new ApiError('VALIDATION_ERROR', `${parsed.path} is not allowed: no body may hold a ${parsed.key} key`, {
        details: [{ field: parsed.path ?? 'body', reason: 'forbidden_key' }],
      });
    case 'too_deep':
      throw new ApiError('VALIDATION_ERROR', 'the body is nested too deeply', {
        details: [{ field: 'body', reason: 'too_deep' }],
      });
    default:
      throw new ApiError('VALIDATION_ERROR', 'the body is not valid JSON', {
        details: [{ field: 'body', reason: 'invalid_json' }],
      });
  }
}

/** Validates `value` against `schema`, or throws a 400 naming each field. */
export function validate<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(result.error, value);
  return result.data;
}

export function jsonBody<S extends z.ZodType>(schema: S): ValidatorMiddleware<'json', S> {
  const middleware: MiddlewareHandler<AppEnv> = async function jsonBody(c, next) {
    const data = validate(schema, await readJson(c));
    c.req.addValidatedData('json', data as object);
    await next();
  };
  return Object.assign(middleware, { [ROUTE_SCHEMA]: { json: schema } }) as ValidatorMiddleware<'json', S>;
}

export function query<S extends z.ZodType>(schema: S): ValidatorMiddleware<'query', S> {
  const middleware = zValidator('query', schema, (result) => {
    if (!result.success) throw validationError(result.error, result.data);
  });
  return Object.assign(middleware, { [ROUTE_SCHEMA]: { query: schema } }) as unknown as ValidatorMiddleware<'query', S>;
}

/** `input` is what was validated: a field absent from it is `required`, not `invalid_type`. */
export function validationError(error: { issues: readonly z.core.$ZodIssue[] }, input: unknown): ApiError {
  const details: ErrorDetail[] = [];
  const messages: string[] = [];
  for (const issue of error.issues) {
    const field = issue.path.map(String).join('.') || 'body';
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const name = field === 'body' ? key : `${field}.${key}`;
        details.push({ field: name, reason: 'unknown_field' });
        messages.push(`${name} is not a known field`);
      }
      continue;
    }
    const { reason, phrase } = describeIssue(issue, valueAt(input, issue.path));
    details.push({ field, reason });
    messages.push(`${field} ${phrase}`);
  }
  const message = messages.length > 1 ? `${messages[0]} (and ${messages.length - 1} more)` : messages[0] ?? 'invalid request';
  return new ApiError('VALIDATION_ERROR', message, { details });
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function describeIssue(issue: z.core.$ZodIssue, value: unknown): { reason: string; phrase: string } {
  switch (issue.code) {
    case 'invalid_type':
      if (value === undefined) return { reason: 'required', phrase: 'is required' };
      return { reason: 'invalid_type', phrase: `must be ${article(issue.expected === 'int' ? 'integer' : issue.expected)}` };
    case 'too_small':
      if (issue.origin === 'string') return { reason: 'too_short', phrase: `must be at least ${issue.minimum} characters` };
      if (issue.origin === 'array' || issue.origin === 'set') return { reason: 'too_few', phrase: `must have at least ${issue.minimum} items` };
      return { reason: 'too_small', phrase: `must be at least ${issue.minimum}` };
    case 'too_big':
      if (issue.origin === 'string') return { reason: 'too_long', phrase: `must be at most ${issue.maximum} characters` };
      if (issue.origin === 'array' || issue.origin === 'set') return { reason: 'too_many', phrase: `must have at most ${issue.maximum} items` };
      return { reason: 'too_large', phrase: `must be at most ${issue.maximum}` };
    case 'invalid_value':
      return { reason: 'invalid_value', phrase: `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}` };
    case 'invalid_format':
      return { reason: 'invalid_format', phrase: customOr(issue.message, `must be a valid ${issue.format}`) };
    case 'custom': {
      const reason = typeof issue.params?.reason === 'string' ? issue.params.reason : 'invalid';
      return { reason, phrase: issue.message };
    }
    default:
      return { reason: 'invalid', phrase: 'is invalid' };
  }
}

function customOr(message: string, fallback: string): string {
  return message.startsWith('Invalid') ? fallback : message;
}

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}
