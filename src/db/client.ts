import { drizzle, type DrizzleD1Database } from 'drizzle-orm/d1';
import type { Env } from '../env';
import * as schema from './schema';

export type Db = DrizzleD1Database<typeof schema>;

const clients = new WeakMap<D1Database, Db>();

/** The Drizzle client over the D1 binding, one per isolate. */
export function database(env: Env): Db {
  let db = clients.get(env.DB);
  if (!db) {
    db = drizzle(env.DB, { schema });
    clients.set(env.DB, db);
  }
  return db;
}
