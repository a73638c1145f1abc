/**
 * Brings the database up to date before the first query of an isolate.
 *
 * Plain `wrangler dev` applies no D1 migrations, and a deployment whose
 * operator forgot `wrangler d1 migrations apply` would otherwise fail every
 * query; README.md#configuration promises that the root key alone is enough.
 * So the Worker applies what is missing itself, recording each migration in
 * `d1_migrations` exactly as wrangler does (same table, same names), so that
 * wrangler and the Worker never apply one twice.
 *
 * Cost: one read per isolate once the schema is current. Each migration is
 * one `batch` (one transaction) together with its `d1_migrations` row: two
 * isolates racing apply it once, the loser's batch fails on the existing
 * tables or the unique name and changes nothing.
 */
import { MIGRATIONS } from './migrations.generated';

const TABLE = `CREATE TABLE IF NOT EXISTS d1_migrations(
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		name       TEXT UNIQUE,
		applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
)`;

const current = new WeakSet<D1Database>();
const pending = new WeakMap<D1Database, Promise<void>>();

async function appliedNames(d1: D1Database): Promise<Set<string>> {
  const { results } = await d1.prepare('SELECT name FROM d1_migrations').all<{ name: string }>();
  return new Set(results.map((r) => r.name));
}

async function migrate(d1: D1Database): Promise<void> {
  let applied: Set<string>;
  try {
    applied = await appliedNames(d1);
  } catch {
    await d1.prepare(TABLE).run();
    applied = await appliedNames(d1);
  }
  for (const migration of MIGRATIONS) {
    if (applied.has(migration.name)) continue;
    try {
      await d1.batch([
        ...migration.queries.map((q) => d1.prepare(q)),
        d1.prepare('INSERT INTO d1_migrations (name) VALUES (?)').bind(migration.name),
      ]);
    } catch (err) {
      // Another isolate (or wrangler) applied it meanwhile: fine. Anything else is a failure.
      if (!(await appliedNames(d1)).has(migration.name)) throw err;
    }
  }
}

/** Resolves once every migration of this build is applied; shared by concurrent requests, retried after a failure. */
export function ensureSchema(d1: D1Database): Promise<void> | undefined {
  if (current.has(d1)) return undefined;
  let run = pending.get(d1);
  if (!run) {
    run = migrate(d1).then(
      () => {
        current.add(d1);
        pending.delete(d1);
      },
      (err: unknown) => {
        pending.delete(d1);
        throw err;
      },
    );
    pending.set(d1, run);
  }
  return run;
}
