/**
 * Offset pagination (docs/api-conventions.md#pagination): `limit` 1-100 (default 20), `offset` >= 0
 * (default 0), anything else 400. Every list answers `{data, pagination}`.
 */
import { z } from 'zod';

/** A query parameter holding a whole number (digits only: no sign, exponent or fraction). */
export const integerText = (field: string) =>
  z.string().regex(/^[0-9]{1,10}$/, { error: `${field} must be a whole number` }).transform(Number);

export const paginationFields = {
  limit: integerText('limit').pipe(z.number().int().min(1).max(100)).optional(),
  offset: integerText('offset').pipe(z.number().int().min(0).max(1_000_000_000)).optional(),
};

export interface Page {
  limit: number;
  offset: number;
}

export function page(q: { limit?: number | undefined; offset?: number | undefined }): Page {
  return { limit: q.limit ?? 20, offset: q.offset ?? 0 };
}

export interface Paginated<T> {
  data: T[];
  pagination: { total: number; limit: number; offset: number; has_more: boolean };
}

export function paginated<T>(data: T[], total: number, p: Page): Paginated<T> {
  return {
    data,
    pagination: { total, limit: p.limit, offset: p.offset, has_more: p.offset + data.length < total },
  };
}
