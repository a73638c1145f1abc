/**
 * Time as the API shows it. Storage keeps integer milliseconds; answers show
 * ISO 8601 UTC at second precision with a `Z`, as in the reference.
 */

export function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export function isoOrNull(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : isoSeconds(ms);
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** Parses a strict ISO 8601 date-time with an explicit offset; null when it is not one. */
export function parseIsoTimestamp(value: string): number | null {
  if (!ISO_UTC.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}
