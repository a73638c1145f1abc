/**
 * The one error type of the API and its status table (docs/api-conventions.md#error-codes). Anything
 * thrown anywhere is rendered by `renderError` into the reference's shape;
 * an unexpected throw becomes a bare INTERNAL_ERROR with no library text.
 */

export const ERROR_STATUS = {
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  INVALID_CREDENTIALS: 401,
  INVALID_TOKEN: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  APP_ARCHIVED: 409,
  GONE: 410,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  INTERNAL_ERROR: 500,
  CONFIGURATION_ERROR: 500,
  UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export type ErrorStatus = (typeof ERROR_STATUS)[ErrorCode];

export interface ErrorDetail {
  field: string;
  reason: string;
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: ErrorDetail[] };
}

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetail[] | undefined;
  /** Extra response headers (Allow, Retry-After, WWW-Authenticate). */
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: ErrorDetail[]; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ApiError';
    this.code = code;
    this.details = options.details;
    this.headers = options.headers ?? {};
  }

  get status(): ErrorStatus {
    return ERROR_STATUS[this.code];
  }

  toBody(): ErrorBody {
    const error: ErrorBody['error'] = { code: this.code, message: this.message };
    if (this.details && this.details.length > 0) error.details = this.details;
    return { error };
  }
}

/** A 400 naming one field and why it was refused. */
export function invalidField(field: string, reason: string, message: string): ApiError {
  return new ApiError('VALIDATION_ERROR', message, { details: [{ field, reason }] });
}

export function notFound(what: string): ApiError {
  return new ApiError('NOT_FOUND', `${what} not found`);
}

export function conflict(message: string, details?: ErrorDetail[]): ApiError {
  return new ApiError('CONFLICT', message, details ? { details } : {});
}

export function appArchived(): ApiError {
  return new ApiError('APP_ARCHIVED', 'the app is archived; restore it before changing it');
}

/** The one answer for a token that does not verify or whose subject, credential or app is gone. */
export function invalidToken(): ApiError {
  return new ApiError('INVALID_TOKEN', 'the token is invalid, expired or revoked');
}

/**
 * A required setting is missing or malformed (docs/configuration.md#configuration-errors): a
 * deployment mistake, which no retry fixes. The message names the setting,
 * never its value.
 */
export function configurationError(setting: string, problem: string): ApiError {
  return new ApiError('CONFIGURATION_ERROR', `server misconfigured: ${setting} ${problem}`);
}

/** Storage or a Durable Object failed: the request changed nothing, and no check passed. */
export function unavailable(cause?: unknown): ApiError {
  return new ApiError('UNAVAILABLE', 'the service is temporarily unavailable; retry shortly', { cause });
}

/** Runs a Durable Object call; any failure of it (a sync throw included) is 503 UNAVAILABLE. */
export async function unavailableOnFailure<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw unavailable(err);
  }
}

/** True for D1's unique-constraint failure, however the driver wraps it. */
export function isUniqueViolation(err: unknown): boolean {
  return errorText(err).includes('UNIQUE constraint failed');
}

/** True for a constraint failure (unique, foreign key, check, trigger abort). */
export function isConstraintViolation(err: unknown): boolean {
  const text = errorText(err);
  return text.includes('constraint failed') || text.includes('SQLITE_CONSTRAINT');
}

function errorText(err: unknown): string {
  let text = '';
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    text += ` ${e instanceof Error ? e.message : String(e)}`;
    e = e instanceof Error ? e.cause : undefined;
  }
  return text;
}
