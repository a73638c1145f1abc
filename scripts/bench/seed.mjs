// @ts-check
/**
 * The benchmark's data. Through the API where it is cheap: two apps (`bench`
 * for reads, `bench-writes` for the create-user case, so writes never change
 * what the list cases read), an `editor` role with wildcards, a user with a
 * password per connection (logins and refresh chains), a service credential when the route exists. Directly into
 * D1 where the API would take too long: 10,000 users of `bench` (argon2id
 * costs about 0.3 s a password, so they have none), each holding `editor`,
 * and two audit entries each (`user.created`, `token.issued`), so the
 * audit-filter case reads a large log.
 */
import { randomBytes } from 'node:crypto';
import { HEIMDALL } from './server.mjs';

export const PASSWORD = 'correct horse battery staple';
export const BULK_USERS = 10_000;
/** Rows per bulk INSERT: one JSON parameter each, far below any statement limit. */
const CHUNK = 500;

/**
 * @typedef {object} ApiAnswer
 * @property {number} status
 * @property {any} body
 */

/**
 * A JSON request to Heimdall, with the root key unless `key` is null.
 * @param {import('./server.mjs').BenchServer} server
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @param {string | null} [key]
 * @returns {Promise<ApiAnswer>}
 */
export async function api(server, method, path, body, key = server.rootKey) {
  /** @type {Record<string, string>} */
  const headers = {};
  if (key !== null) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${server.heimdall}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

/**
 * `api`, failing loudly unless the answer has the expected status.
 * @param {import('./server.mjs').BenchServer} server
 * @param {number} expected
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @param {string | null} [key]
 */
export async function expectApi(server, expected, method, path, body, key) {
  const res = await api(server, method, path, body, key);
  if (res.status !== expected) throw new Error(`${method} ${path}: expected ${expected}, got ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/**
 * A password login; answers the token response.
 * @param {import('./server.mjs').BenchServer} server
 * @param {string} app
 * @param {string} email
 * @returns {Promise<{ access_token: string, refresh_token: string }>}
 */
export function login(server, app, email) {
  return expectApi(server, 200, 'POST', `/v1/apps/${app}/tokens`, { grant_type: 'password', email, password: PASSWORD }, null);
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * An id in Heimdall's shape: prefix, then a ULID (10 characters of time, 16 random).
 * @param {string} prefix
 * @param {number} ms
 */
function bulkId(prefix, ms) {
  let time = '';
  for (let t = ms, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  const random = [...randomBytes(16)].map((b) => CROCKFORD[b % 32]).join('');
  return `${prefix}${time}${random}`;
}

/**
 * @typedef {object} Seed
 * @property {{ id: string, name: string }} app        the app the read cases use
 * @property {{ id: string, name: string }} writesApp  the app the create-user case writes to
 * @property {string} accessToken                     alice's (role `editor`), for authorize
 * @property {string} kid                             the active signing key's kid
 * @property {{ id: string, client_id: string, client_secret: string, permissions: string[] } | null} credential
 *   null when the credentials route answers 404 (not built on this branch)
 * @property {string[]} loginUsers                  emails with a password (role `editor`), one per connection
 * @property {string} password                        every seeded password
 * @property {number} bulkUsers
 * @property {number} auditEntries                    entries in the read app's log
 */

/**
 * @param {import('./server.mjs').BenchServer} server
 * @param {{ loginUsers: number }} options  users with a password, one per connection of the login cases
 * @returns {Promise<Seed>}
 */
export async function seed(server, options) {
  const app = await expectApi(server, 201, 'POST', '/v1/apps', { name: 'bench', display_name: 'Benchmark' });
  const writesApp = await expectApi(server, 201, 'POST', '/v1/apps', { name: 'bench-writes' });
  const editor = await expectApi(server, 201, 'POST', `/v1/apps/${app.name}/roles`, {
    name: 'editor',
    permissions: ['projects:*', 'comments:*', 'documents:read'],
  });
  await expectApi(server, 201, 'POST', `/v1/apps/${app.name}/users`, { email: 'alice@bench.example.com', password: PASSWORD, role: 'editor' });
  /** @type {string[]} */
  const loginUsers = [];
  for (let i = 0; i < options.loginUsers; i++) {
    const email = `login${i}@bench.example.com`;
    await expectApi(server, 201, 'POST', `/v1/apps/${app.name}/users`, { email, password: PASSWORD, role: 'editor' });
    loginUsers.push(email);
  }
  const tokens = await login(server, app.name, 'alice@bench.example.com');
  const kid = JSON.parse(Buffer.from(tokens.access_token.split('.')[0] ?? '', 'base64url').toString()).kid;

  const created = await api(server, 'POST', `/v1/apps/${app.name}/credentials`, { name: 'bench-service', permissions: ['projects:read', 'documents:read'] });
  if (created.status !== 201 && created.status !== 404) throw new Error(`POST credentials: ${created.status} ${JSON.stringify(created.body)}`);
  const credential = created.status === 201 ? created.body : null;

  const auditEntries = await bulkInsert(server, app.id, editor.id);
  return { app, writesApp, accessToken: tokens.access_token, kid, credential, loginUsers, password: PASSWORD, bulkUsers: BULK_USERS, auditEntries };
}

/**
 * Inserts the bulk users, their `editor` assignments and their audit
 * entries, older than everything made through the API, one second apart.
 * @param {import('./server.mjs').BenchServer} server
 * @param {string} appId
 * @param {string} roleId
 * @returns {Promise<number>} the number of entries in the app's log afterwards
 */
async function bulkInsert(server, appId, roleId) {
  const db = await server.mf.getD1Database('DB', HEIMDALL);
  const start = Date.now() - (BULK_USERS + 60) * 1000;
  for (let from = 0; from < BULK_USERS; from += CHUNK) {
    const rows = [];
    for (let i = from; i < Math.min(from + CHUNK, BULK_USERS); i++) {
      const t = start + i * 1000;
      const id = bulkId('usr_', t);
      const email = `user${i}@bulk.example.com`;
      rows.push({
        id,
        email,
        t,
        created: bulkId('aud_', t),
        createdMeta: JSON.stringify({ email, roles: ['editor'] }),
        issued: bulkId('aud_', t + 500),
        issuedMeta: JSON.stringify({ grant_type: 'password', subject: id, roles: ['editor'] }),
        family: bulkId('', t + 500),
      });
    }
    const json = JSON.stringify(rows);
    const row = (/** @type {string} */ field) => `json_extract(value, '$.${field}')`;
    await db.batch([
      db.prepare(`INSERT INTO users (id, app_id, email, status, metadata, created_at, updated_at)
        SELECT ${row('id')}, ?1, ${row('email')}, 'active', '{}', ${row('t')}, ${row('t')} FROM json_each(?2)`).bind(appId, json),
      db.prepare(`INSERT INTO user_roles (app_id, user_id, role_id, created_at)
        SELECT ?1, ${row('id')}, ?2, ${row('t')} FROM json_each(?3)`).bind(appId, roleId, json),
      db.prepare(`INSERT INTO audit_logs (id, app_id, actor_id, action, target_type, target_id, metadata, timestamp)
        SELECT ${row('created')}, ?1, 'root', 'user.created', 'user', ${row('id')}, ${row('createdMeta')}, ${row('t')} FROM json_each(?2)`).bind(appId, json),
      db.prepare(`INSERT INTO audit_logs (id, app_id, actor_id, action, target_type, target_id, metadata, timestamp)
        SELECT ${row('issued')}, ?1, ${row('id')}, 'token.issued', 'token', ${row('family')}, ${row('issuedMeta')}, ${row('t')} + 500 FROM json_each(?2)`).bind(appId, json),
    ]);
  }
  const counted = await db.prepare('SELECT count(*) AS n FROM audit_logs WHERE app_id = ?1').bind(appId).first();
  return Number(counted?.n ?? 0);
}
