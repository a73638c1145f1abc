// @ts-check
/**
 * The Worker under test, in workerd through Miniflare's API: the project's
 * own bundle (`wrangler deploy --dry-run`) and its own wrangler.toml, with
 * real local D1 and Durable Objects in a temporary directory, and a direct
 * socket per worker so the load generator talks to workerd itself.
 * (`wrangler dev` puts a local proxy in front that caps throughput near 10%
 * of what workerd serves, which would hide everything measured here.)
 *
 * A second, tiny worker in the same workerd only signs an RS256 JWT: the
 * floor a token grant is compared with. It is a benchmark fixture, never a
 * route of the product.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { unstable_getMiniflareWorkerOptions, unstable_splitSqlQuery } from 'wrangler';

const root = fileURLToPath(new URL('../..', import.meta.url));
const require = createRequire(import.meta.url);

/**
 * Miniflare as wrangler 4.86 itself uses it (its nested copy, v4). The
 * top-level `miniflare` is v5, pulled in by the vitest pool, and wants
 * Node 22; this machine runs Node 20.
 * @type {typeof import('../../node_modules/wrangler/node_modules/miniflare/dist/src/index.js')}
 */
const miniflare = createRequire(require.resolve('wrangler/package.json'))('miniflare');

/** Limits so high that no bucket runs out during a benchmark (the limits are vars: docs/rate-limits.md#limits). */
export const BENCH_RATE_LIMIT = 1_000_000_000;

export const HEIMDALL = 'heimdall';
export const SIGN_ONLY = 'sign-only';

/**
 * The reference worker: parses a JSON body of claims, stamps iat/exp/jti and
 * signs an RS256 JWT with the header shape Heimdall uses, with WebCrypto
 * directly (one RSA-2048 key per isolate, made on first use because Workers
 * refuse randomness at global scope), and answers like a token endpoint.
 */
const SIGN_ONLY_SCRIPT = `
const encoder = new TextEncoder();
let keys;
function b64url(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
}
const part = (value) => b64url(encoder.encode(JSON.stringify(value)));
export default {
  async fetch(request) {
    keys ??= crypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      false,
      ['sign'],
    );
    const { privateKey } = await keys;
    const template = await request.json();
    const iat = Math.floor(Date.now() / 1000);
    const claims = { ...template.claims, iat, exp: iat + 3600, jti: crypto.randomUUID() };
    const input = part({ alg: 'RS256', kid: template.kid, typ: 'at+jwt' }) + '.' + part(claims);
    const signature = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', privateKey, encoder.encode(input));
    return Response.json(
      { access_token: input + '.' + b64url(new Uint8Array(signature)), token_type: 'Bearer', expires_in: 3600 },
      { headers: { 'Cache-Control': 'no-store' } },
    );
  },
};
`;

/**
 * @typedef {object} BenchServer
 * @property {string} heimdall   base URL of Heimdall's direct socket
 * @property {string} signOnly   base URL of the sign-only worker's direct socket
 * @property {string} rootKey
 * @property {import('../../node_modules/wrangler/node_modules/miniflare/dist/src/index.js').Miniflare} mf
 * @property {(() => number) | undefined} cpuMs  workerd's cumulative CPU time in ms (Linux /proc); undefined elsewhere
 * @property {() => Promise<void>} dispose  stops workerd and deletes the temporary state; safe to call twice
 */

/**
 * Fields after the command name of /proc/<pid>/stat (the name is in
 * parentheses and may contain spaces): [0] is field 3, state.
 * @param {string} pid
 */
function statFields(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return { comm: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')), fields: text.slice(text.lastIndexOf(')') + 2).split(' ') };
}

/**
 * workerd's local alarm store notes each rate-limit alarm it reschedules
 * (one per bucket and window): a line per minute that says nothing about
 * the run. Everything else workerd or the Worker prints is passed on.
 */
const ALARM_NOTE = /NOSENTRY SQLite alarm handler canceled/;

/**
 * @param {import('node:stream').Readable} stdout
 * @param {import('node:stream').Readable} stderr
 */
function forwardRuntimeOutput(stdout, stderr) {
  for (const stream of [stdout, stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      if (!ALARM_NOTE.test(line)) process.stderr.write(`${line}\n`);
    });
  }
}

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/**
 * Reads the CPU time of the workerd that Miniflare started for this process
 * (a direct child), or undefined when /proc cannot tell.
 * @returns {(() => number) | undefined}
 */
function workerdCpuClock() {
  let pid;
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const { comm, fields } = statFields(entry);
        if (comm === 'workerd' && Number(fields[1]) === process.pid) pid = entry;
      } catch {
        // The process ended while we looked.
      }
    }
  } catch {
    return undefined;
  }
  if (!pid) return undefined;
  const workerd = pid;
  return () => {
    const { fields } = statFields(workerd);
    // Fields 14 and 15: user and system time, over all threads.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  };
}

/**
 * Runs `command` to completion, output captured; rejects with the output on failure.
 * @param {string} command
 * @param {string[]} args
 * @param {(child: import('node:child_process').ChildProcess | null) => void} track
 */
function run(command, args, track) {
  return new Promise((resolve, reject) => {
    // Its own process group, so that a Ctrl-C can stop wrangler and the
    // processes it starts (esbuild) together: see `stopChild`.
    const child = spawn(command, args, { cwd: root, env: { ...process.env, WRANGLER_SEND_METRICS: 'false' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    track(child);
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      track(null);
      if (code === 0) resolve(undefined);
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? code}):\n${output}`));
    });
  });
}

/**
 * Stops a child started by `run` and everything it started (its process group).
 * @param {import('node:child_process').ChildProcess | null} child
 */
export function stopChild(child) {
  if (!child?.pid || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    // Already gone.
  }
}

/** Every statement of drizzle/*.sql, in order (files split on drizzle's breakpoints). */
async function migrationStatements() {
  const dir = join(root, 'drizzle');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  /** @type {string[]} */
  const statements = [];
  for (const file of files) {
    const text = await readFile(join(dir, file), 'utf8');
    for (const chunk of text.split('--> statement-breakpoint')) statements.push(...unstable_splitSqlQuery(chunk).filter((s) => s.trim() !== ''));
  }
  return statements;
}

/**
 * Builds the bundle, starts workerd with both workers, applies the D1
 * migrations. `onDispose` receives the clean-up function before anything
 * starts and `onChild` sees the build process while it runs, so a Ctrl-C at
 * any point can stop everything.
 * @param {{
 *   onChild: (child: import('node:child_process').ChildProcess | null) => void,
 *   onDispose: (dispose: () => Promise<void>) => void,
 * }} hooks
 * @returns {Promise<BenchServer>}
 */
export async function startServer(hooks) {
  const dir = await mkdtemp(join(tmpdir(), 'heimdall-bench-'));
  /** @type {import('../../node_modules/wrangler/node_modules/miniflare/dist/src/index.js').Miniflare | undefined} */
  let mf;
  let disposed = false;
  // On process.exit (Ctrl-C included: Miniflare's own exit hook then kills
  // workerd), the temporary state goes too, synchronously.
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.on('exit', removeDir);
  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    try {
      await mf?.dispose();
    } finally {
      process.off('exit', removeDir);
      await rm(dir, { recursive: true, force: true });
    }
  };
  hooks.onDispose(dispose);
  try {
    const outdir = join(dir, 'bundle');
    await run(join(root, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--outdir', outdir], hooks.onChild);
    if (disposed) throw new Error('stopped while building');

    const { workerOptions } = unstable_getMiniflareWorkerOptions(join(root, 'wrangler.toml'));
    const rootKey = `heimdall_root_${randomBytes(32).toString('base64url')}`;
    const limit = String(BENCH_RATE_LIMIT);
    const direct = [{ host: '127.0.0.1', port: 0 }];
    mf = new miniflare.Miniflare({
      log: new miniflare.Log(miniflare.LogLevel.WARN),
      // No network here: use Miniflare's placeholder `request.cf` rather than fetching one.
      cf: false,
      handleRuntimeStdio: forwardRuntimeOutput,
      d1Persist: join(dir, 'd1'),
      durableObjectsPersist: join(dir, 'do'),
      workers: [
        {
          ...workerOptions,
          name: HEIMDALL,
          modules: true,
          // Module names are paths relative to this root; the bundle is one file.
          modulesRoot: outdir,
          scriptPath: join(outdir, 'index.js'),
          bindings: {
            ...workerOptions.bindings,
            HEIMDALL_ROOT_KEY: rootKey,
            HEIMDALL_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
            RATE_LIMIT_ADMIN_PER_MIN: limit,
            RATE_LIMIT_TOKEN_PER_MIN: limit,
            RATE_LIMIT_AUTHORIZE_PER_MIN: limit,
          },
          unsafeDirectSockets: direct,
        },
        {
          name: SIGN_ONLY,
          modules: true,
          script: SIGN_ONLY_SCRIPT,
          compatibilityDate: workerOptions.compatibilityDate,
          compatibilityFlags: workerOptions.compatibilityFlags,
          unsafeDirectSockets: direct,
        },
      ],
    });
    await mf.ready;
    if (disposed) throw new Error('stopped while starting');

    const db = await mf.getD1Database('DB', HEIMDALL);
    for (const statement of await migrationStatements()) await db.prepare(statement).run();

    const heimdall = (await mf.unsafeGetDirectURL(HEIMDALL)).origin;
    const signOnly = (await mf.unsafeGetDirectURL(SIGN_ONLY)).origin;
    return { heimdall, signOnly, rootKey, mf, cpuMs: workerdCpuClock(), dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}
