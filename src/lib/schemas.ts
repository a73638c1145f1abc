/**
 * Field schemas shared by several resources. Each carries the documented rule
 * and a human message; `validationError` turns failures into `details[]`.
 */
import { z } from 'zod';
import { parseIsoTimestamp } from './time';

const METADATA_MAX_KEYS = 50;
const METADATA_MAX_KEY_LENGTH = 40;
const METADATA_MAX_BYTES = 8 * 1024;

const encoder = new TextEncoder();

/** Free-form JSON object: <= 50 keys, keys <= 40 chars, <= 8 KiB serialised (docs/api-conventions.md#metadata). */
export const metadataSchema = z
  .record(z.string(), z.unknown())
  .superRefine((value, ctx) => {
    const keys = Object.keys(value);
    if (keys.length > METADATA_MAX_KEYS) {
      ctx.addIssue({ code: 'custom', params: { reason: 'too_many_keys' }, message: `must have at most ${METADATA_MAX_KEYS} keys` });
    }
    for (const key of keys) {
      if (key.length === 0 || key.length > METADATA_MAX_KEY_LENGTH) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          params: { reason: 'invalid_key' },
          message: `keys must be 1-${METADATA_MAX_KEY_LENGTH} characters`,
        });
      }
    }
    if (encoder.encode(JSON.stringify(value)).length > METADATA_MAX_BYTES) {
      ctx.addIssue({ code: 'custom', params: { reason: 'too_large' }, message: 'must be at most 8 KiB when serialised' });
    }
  });

// Control characters (C0, DEL, C1) and bidi overrides have no place in a name shown to people.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL_OR_BIDI = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** A name shown to people: 1-200 characters, no control or bidi-override characters. */
export const displayNameSchema = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine((v) => !CONTROL_OR_BIDI.test(v), { params: { reason: 'invalid_characters' }, message: 'must not contain control characters' });

/** A field that exists but may not be changed: present in a PATCH is a 400 `immutable`. */
export const immutableField = z
  .unknown()
  .refine(() => false, { params: { reason: 'immutable' }, message: 'cannot be changed' })
  .optional();

/** An ISO 8601 date-time with an explicit offset (`2026-02-20T10:15:00Z`), parsed to epoch milliseconds. */
export const isoTimestampSchema = z.string().transform((value, ctx) => {
  const ms = parseIsoTimestamp(value);
  if (ms !== null) return ms;
  ctx.addIssue({
    code: 'custom',
    params: { reason: 'invalid_format' },
    message: 'must be an ISO 8601 date-time with a time zone, such as 2026-02-20T10:15:00Z',
  });
  return z.NEVER;
});
