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

const ISO_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-](\d{2}):(\d{2}))$/;

/**
 * Parses a strict ISO 8601 (RFC 3339) date-time with an explicit offset; null
 * when it is not one. The calendar is checked here because `Date.parse`
 * quietly rolls `2026-02-30` over into March and accepts hour 24.
 */
export function parseIsoTimestamp(value: string): number | null {
  const m = ISO_DATE_TIME.exec(value);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const offsetHour = m[9] === undefined ? 0 : Number(m[9]);
  const offsetMinute = m[10] === undefined ? 0 : Number(m[10]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59 || offsetHour > 23 || offsetMinute > 59) return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** The first millisecond of the second `ms` falls in. */
export function startOfSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

/**
 * The last millisecond of the second `ms` falls in. Answers show seconds, so
 * an inclusive upper bound of `10:15:00Z` must include an entry stored at
 * 10:15:00.999 that is shown as `10:15:00Z`.
 */
export function endOfSecond(ms: number): number {
  return startOfSecond(ms) + 999;
}
