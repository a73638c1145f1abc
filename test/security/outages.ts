/**
 * Outages for the failure-path suite: a D1 binding that has lost its
 * connection from the start or from its n-th call, and a Durable Object
 * namespace whose objects cannot be reached (or fail one method). Each fails
 * the way the platform does, with the messages the Worker must not leak.
 */
import { env } from 'cloudflare:test';

/** D1 whose every query fails like a lost connection (statements can still be prepared). */
export function failingD1(): D1Database {
  const fail = () => Promise.reject(new Error('D1_ERROR: Network connection lost.'));
  const statement = (): D1PreparedStatement =>
    ({ bind: () => statement(), first: fail, all: fail, run: fail, raw: fail }) as unknown as D1PreparedStatement;
  return { prepare: statement, batch: fail, exec: fail, dump: fail, withSession: () => failingD1() } as unknown as D1Database;
}

/** A Durable Object namespace whose objects cannot be reached (or, given `method`, fail that method only). */
export function unreachable<T extends object>(namespace: T, method?: string): T {
  const lost = () => Promise.reject(new Error('Network connection lost.'));
  return new Proxy(namespace, {
    get(target, prop) {
      if (prop === 'get') {
        return (id: DurableObjectId) => {
          if (method === undefined) return new Proxy({}, { get: () => lost });
          const stub = (target as unknown as DurableObjectNamespace).get(id);
          // An RPC stub answers any property as a remote method: forward calls by name, never touch `bind`.
          return new Proxy({}, {
            get: (_, p) => (p === method ? lost : (...args: unknown[]) => (stub as unknown as Record<string, (...a: unknown[]) => unknown>)[p as string]!(...args)),
          });
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * D1 whose calls (each query and each batch is one) succeed until the
 * `failFrom`-th, which fails like a lost connection, as do all after it.
 * `failed` says whether any call failed yet.
 */
export function flakyD1(failFrom: number): { db: D1Database; failed: () => boolean } {
  let calls = 0;
  let failed = false;
  const attempt = <T>(run: () => Promise<T>): Promise<T> => {
    calls += 1;
    if (calls < failFrom) return run();
    failed = true;
    return Promise.reject(new Error('D1_ERROR: Network connection lost.'));
  };
  const real = new WeakMap<object, D1PreparedStatement>();
  const wrap = (statement: D1PreparedStatement): D1PreparedStatement => {
    const wrapped = {
      bind: (...values: unknown[]) => wrap(statement.bind(...values)),
      first: (column?: string) => attempt(() => (column === undefined ? statement.first() : statement.first(column))),
      all: () => attempt(() => statement.all()),
      run: () => attempt(() => statement.run()),
      raw: (options?: { columnNames?: boolean }) => attempt(() => statement.raw(options as { columnNames: true })),
    };
    real.set(wrapped, statement);
    return wrapped as unknown as D1PreparedStatement;
  };
  const db = {
    prepare: (query: string) => wrap(env.DB.prepare(query)),
    batch: (statements: D1PreparedStatement[]) => attempt(() => env.DB.batch(statements.map((s) => real.get(s) ?? s))),
    exec: (query: string) => attempt(() => env.DB.exec(query)),
    withSession: () => db,
    dump: () => env.DB.dump(),
  };
  return { db: db as unknown as D1Database, failed: () => failed };
}
