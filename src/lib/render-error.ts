/**
 * The one renderer of every non-2xx answer (docs/api-conventions.md#errors), used by `onError`,
 * `notFound` and the 405 fallback. Unexpected errors become a bare 500 or,
 * when storage failed, a 503; neither carries library text, SQL or a stack.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ApiError, conflict, isConstraintViolation, type ErrorCode } from './errors';

const CODE_BY_STATUS: Partial<Record<number, ErrorCode>> = {
  400: 'VALIDATION_ERROR',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  429: 'RATE_LIMITED',
  503: 'UNAVAILABLE',
};

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof HTTPException) {
    const code = CODE_BY_STATUS[err.status] ?? 'INTERNAL_ERROR';
    return new ApiError(code, code === 'INTERNAL_ERROR' ? 'internal error' : defaultMessage(code));
  }
  // A constraint nobody anticipated (a race the code did not guard): the
  // database refused it, so nothing was written.
  if (isConstraintViolation(err)) return conflict('the change conflicts with the current state; retry');
  if (isStorageFailure(err)) return new ApiError('UNAVAILABLE', 'the service is temporarily unavailable; retry shortly');
  return new ApiError('INTERNAL_ERROR', 'internal error');
}

function defaultMessage(code: ErrorCode): string {
  return code.toLowerCase().replace(/_/g, ' ');
}

/** D1 and Durable Object failures: the platform, not our code. */
function isStorageFailure(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const message = e instanceof Error ? e.message : String(e);
    if (/D1_|Failed query|Network connection lost|Durable Object|storage|SQLITE_BUSY/i.test(message)) return true;
    e = e instanceof Error ? e.cause : undefined;
  }
  return false;
}

/** A log line for a failed request: the innermost cause's name and message only (no query parameters). */
function logFailure(c: Context, apiError: ApiError, err: unknown): void {
  let inner: unknown = err;
  for (let depth = 0; inner instanceof Error && inner.cause && depth < 5; depth++) inner = inner.cause;
  const detail = inner instanceof Error ? `${inner.name}: ${inner.message}` : String(inner);
  console.error(JSON.stringify({ level: 'error', request_id: c.get('requestId'), code: apiError.code, detail: detail.slice(0, 300) }));
}

/** Configuration errors already logged by this isolate: each is logged once, not once per request. */
const loggedConfigurationErrors = new Set<string>();

function shouldLog(apiError: ApiError): boolean {
  if (apiError.status < 500) return false;
  if (apiError.code !== 'CONFIGURATION_ERROR') return true;
  if (loggedConfigurationErrors.has(apiError.message)) return false;
  loggedConfigurationErrors.add(apiError.message);
  return true;
}

export function renderError(err: unknown, c: Context): Response {
  const apiError = toApiError(err);
  if (shouldLog(apiError)) logFailure(c, apiError, apiError === err ? (apiError.cause ?? apiError) : err);
  return c.json(apiError.toBody(), apiError.status as ContentfulStatusCode, apiError.headers);
}
