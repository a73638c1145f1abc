#!/usr/bin/env node
// @ts-check
/**
 * `npm run dev`: the whole API on http://localhost:8787 with local D1 and
 * Durable Objects. On first run it writes `.dev.vars` (ignored by git) with a
 * fresh root admin key, the one required secret; every run applies the local
 * D1 migrations (the Worker would apply them itself too), prints the root
 * key, then hands over to `wrangler dev`.
 * Extra arguments go to wrangler: `npm run dev -- --var LOGIN_MAX_FAILURES:3`;
 * `--persist-to DIR` keeps the local state somewhere other than `.wrangler/`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const devVarsPath = `${root}.dev.vars`;
const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: process.env.CI ?? '' };
const wrangler = `${root}node_modules/.bin/wrangler`;

/** @returns {Record<string, string>} */
function readDevVars() {
  if (!existsSync(devVarsPath)) return {};
  /** @type {Record<string, string>} */
  const vars = {};
  for (const line of readFileSync(devVarsPath, 'utf8').split('\n')) {
    const match = /^\s*([A-Z0-9_]+)\s*=\s*"?([^"]*)"?\s*$/.exec(line);
    if (match?.[1] && match[2] !== undefined) vars[match[1]] = match[2];
  }
  return vars;
}

const vars = readDevVars();
let wrote = false;
if (!vars.HEIMDALL_ROOT_KEY) {
  vars.HEIMDALL_ROOT_KEY = `heimdall_root_${randomBytes(32).toString('base64url')}`;
  wrote = true;
}
if (wrote) {
  const body = Object.entries(vars).map(([k, v]) => `${k}=${v}`).join('\n');
  writeFileSync(devVarsPath, `# Local secrets for wrangler dev. Never commit this file.\n${body}\n`, { mode: 0o600 });
}

// `--persist-to DIR` (a wrangler dev flag) also decides where the migrations go.
const args = process.argv.slice(2);
const persistAt = args.indexOf('--persist-to');
const persistDir = persistAt >= 0 ? args[persistAt + 1] : undefined;
const persist = persistDir ? ['--persist-to', persistDir] : [];

const migrate = spawnSync(wrangler, ['d1', 'migrations', 'apply', 'DB', '--local', ...persist], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (migrate.status !== 0) {
  process.stderr.write(migrate.stdout + migrate.stderr);
  process.stderr.write('\nheimdall: applying the local D1 migrations failed\n');
  process.exit(migrate.status ?? 1);
}

const line = '-'.repeat(72);
process.stdout.write(`\n${line}\n Heimdall dev server: http://localhost:8787  (local D1 and Durable Objects)\n`);
process.stdout.write(` Root admin key${wrote ? ' (new, saved in .dev.vars)' : ' (from .dev.vars)'}:\n\n   ${vars.HEIMDALL_ROOT_KEY}\n\n`);
process.stdout.write(` In another shell: . ./.dev.vars   then use "$HEIMDALL_ROOT_KEY"\n${line}\n\n`);

const child = spawn(wrangler, ['dev', '--port', '8787', '--ip', '127.0.0.1', ...args], { cwd: root, env, stdio: 'inherit' });
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
