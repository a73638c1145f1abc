#!/usr/bin/env node
// @ts-check
/**
 * `npm run bench`: Heimdall under load in workerd (through Miniflare's API,
 * with the project's own bundle and wrangler.toml, real local D1 and Durable
 * Objects), driven by autocannon on workerd's own socket.
 *
 * Each round runs every case once, each case between two runs of
 * `GET /v1/health`, and a case's ratio is its throughput over the mean of
 * those two: on a small, shared machine absolute numbers drift from minute
 * to minute, ratios taken side by side much less. The table shows medians
 * over rounds.
 *
 * Settings (environment):
 *   BENCH_DURATION      seconds per timed run (default 3)
 *   BENCH_ROUNDS        rounds (default 3)
 *   BENCH_CONNECTIONS   concurrent keep-alive connections (default 10)
 *   BENCH_WARMUP        seconds of unrecorded warm-up per case (default 1)
 *   BENCH_HASH_SAMPLES  user creations with and without a password (default 8)
 *   BENCH_CASES         comma-separated case keys to run (default: all), e.g.
 *                       authorize-allowed,jwks; health always runs
 *
 * Not part of `npm test` or CI: speed is never asserted by a test.
 */
import { constants, cpus, loadavg } from 'node:os';
import { createRequire } from 'node:module';
import { benchCases } from './bench/cases.mjs';
import { runLoad, stopLoad } from './bench/load.mjs';
import { measurePasswordCost } from './bench/password-cost.mjs';
import { passwordReport, resultsTable, targetsReport } from './bench/report.mjs';
import { seed } from './bench/seed.mjs';
import { BENCH_RATE_LIMIT, startServer, stopChild } from './bench/server.mjs';

/**
 * @param {string} name
 * @param {number} fallback
 */
function setting(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return value;
}

const settings = {
  duration: setting('BENCH_DURATION', 3),
  rounds: Math.round(setting('BENCH_ROUNDS', 3)),
  connections: Math.round(setting('BENCH_CONNECTIONS', 10)),
  warmup: setting('BENCH_WARMUP', 1),
  hashSamples: Math.round(setting('BENCH_HASH_SAMPLES', 8)),
};

const log = (/** @type {string} */ line) => process.stderr.write(`${line}\n`);

/** @type {(() => Promise<void>) | undefined} */
let dispose;
/** @type {import('node:child_process').ChildProcess | null} */
let child = null;
let stopping = false;

// Ctrl-C (or a kill) stops the load and the build and exits at once. The
// exit itself stops workerd (Miniflare's exit hook) and deletes the
// temporary state (an exit listener of startServer): both synchronous, so
// nothing is left behind even though Miniflare exits on SIGINT by itself.
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
  process.prependListener(signal, () => {
    stopping = true;
    log(`\n${signal}: stopping`);
    stopLoad();
    stopChild(child);
    process.exit(128 + constants.signals[signal]);
  });
}

function checkStopping() {
  if (stopping) throw new Error('stopped');
}

/**
 * @param {import('./bench/load.mjs').LoadCase} spec
 * @param {number} duration
 * @param {(() => number) | undefined} cpuMs
 */
async function timed(spec, duration, cpuMs) {
  checkStopping();
  const result = await runLoad(spec, { connections: settings.connections, duration, ...(cpuMs ? { cpuMs } : {}) });
  checkStopping();
  return result;
}

async function main() {
  const workerd = createRequire(createRequire(import.meta.url).resolve('wrangler/package.json'))('workerd/package.json').version;
  const cpu = cpus();
  log(`Heimdall benchmark: ${cpu.length} CPUs (${cpu[0]?.model ?? 'unknown'}), Node ${process.version}, workerd ${workerd}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  log(`Settings: ${settings.rounds} rounds of ${settings.duration} s runs, ${settings.connections} connections, ${settings.warmup} s warm-up per case`);

  log('Building the Worker and starting workerd...');
  const server = await startServer({ onChild: (c) => (child = c), onDispose: (d) => (dispose = d) });
  checkStopping();
  log('Seeding (apps, roles, users with passwords, 10,000 bulk users and their audit entries)...');
  const data = await seed(server, { loginUsers: settings.connections });
  checkStopping();
  log('Measuring the password hash...');
  const cost = await measurePasswordCost(server, data, settings.hashSamples);

  const cases = benchCases(server, data);
  const health = cases.find((c) => c.key === 'health');
  if (!health) throw new Error('no health case');
  const only = (process.env.BENCH_CASES ?? '').split(',').map((k) => k.trim()).filter(Boolean);
  const unknown = only.filter((k) => !cases.some((c) => c.key === k));
  if (unknown.length > 0) throw new Error(`BENCH_CASES: no case ${unknown.join(', ')}; cases are ${cases.map((c) => c.key).join(', ')}`);
  const measured = cases.filter((c) => c !== health && !c.unavailable && (only.length === 0 || only.includes(c.key)));

  log('Warming up...');
  for (const spec of [health, ...measured]) await timed(spec, settings.warmup, server.cpuMs);

  /** @type {Map<string, import('./bench/report.mjs').CaseRun[]>} */
  const runs = new Map(cases.map((c) => [c.key, []]));
  const record = (/** @type {string} */ key, /** @type {import('./bench/report.mjs').CaseRun} */ run) => runs.get(key)?.push(run);
  for (let round = 1; round <= settings.rounds; round++) {
    let before = await timed(health, settings.duration, server.cpuMs);
    record('health', { result: before, health: before.rps });
    for (const spec of measured) {
      const result = await timed(spec, settings.duration, server.cpuMs);
      const after = await timed(health, settings.duration, server.cpuMs);
      record('health', { result: after, health: after.rps });
      record(spec.key, { result, health: (before.rps + after.rps) / 2 });
      log(`  round ${round}/${settings.rounds}  ${spec.title}: ${result.rps.toFixed(1)} req/s, p50 ${result.p50.toFixed(2)} ms, ${result.cpuUs.toFixed(0)} µs CPU/req${result.failed ? `, ${result.failed} failed ${JSON.stringify(result.statuses)}` : ''}  (health ${after.rps.toFixed(0)} req/s)`);
      before = after;
    }
  }

  const outcome = { cases, runs };
  const out = [
    '',
    `Heimdall benchmark: workerd ${workerd} on ${cpu.length} CPUs, shared with the load generator; Node ${process.version}.`,
    `${settings.rounds} rounds; each case ran ${settings.duration} s (password token ${settings.duration * 3} s) between two ${settings.duration} s runs of /v1/health; ${settings.connections} keep-alive connections.`,
    'Medians over rounds. "vs health": the case\'s req/s over the mean of the health runs on either side of it, median over rounds.',
    '"workerd CPU/req": CPU time of the workerd process (every thread: the Worker, D1, Durable Objects) per request sent; steadier than req/s on a busy machine.',
    `Rate limits raised to ${BENCH_RATE_LIMIT.toLocaleString('en-US')} per window for the run (RATE_LIMIT_* vars), so no bucket runs out; leases still apply.`,
    'Absolute numbers depend on the machine and its neighbours; compare ratios.',
    '',
    resultsTable(outcome),
    '',
    passwordReport(cost),
    '',
    'Targets (same-run ratios):',
    targetsReport(outcome, cost),
    '',
  ];
  process.stdout.write(out.join('\n'));
}

try {
  await main();
} catch (err) {
  if (!stopping) {
    process.exitCode = 1;
    log(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  }
} finally {
  if (!stopping) await dispose?.();
}
