// @ts-check
/**
 * One timed run of one case with autocannon: keep-alive connections, one
 * request in flight per connection. Throughput counts 2xx answers only, and
 * latencies are kept at full precision here (autocannon's own histogram
 * rounds to whole milliseconds, too coarse for answers of 1-3 ms).
 *
 * Beside throughput, a run reports workerd's own CPU time per request (from
 * /proc, Linux only): on a shared machine throughput moves with the
 * neighbours' load, CPU time per request much less.
 */
import autocannon from 'autocannon';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * @typedef {object} LoadCase
 * @property {string} key
 * @property {string} title
 * @property {string} url
 * @property {string} [method]
 * @property {Record<string, string>} [headers]
 * @property {string} [body]
 * @property {number} [durationFactor]  runs this many times the configured duration (slow cases)
 * @property {string} [unavailable]     why the case cannot run here; printed instead of numbers
 * @property {(client: autocannon.Client, index: number) => void} [setupClient]
 *   per-connection set-up (connection `index` counts from 0 in each run)
 * @property {(request: autocannon.Request) => autocannon.Request} [setupRequest]
 * @property {() => Promise<void>} [beforeRun]  runs before each timed run (not timed)
 */

/**
 * @typedef {object} RunResult
 * @property {number} rps        2xx answers per second
 * @property {number} p50        ms
 * @property {number} p99        ms
 * @property {number} max        ms, the slowest 2xx answer
 * @property {number} cpuUs      workerd CPU time (user + system, every thread) per request sent, in µs; NaN if unknown
 * @property {number} ok         2xx answers
 * @property {number} failed     non-2xx answers, connection errors and timeouts
 * @property {Record<string, number>} statuses
 */

/** @type {autocannon.Instance | undefined} */
let current;

/** Stops the run in progress, if any (Ctrl-C). */
export function stopLoad() {
  current?.stop();
}

/**
 * @param {number[]} sorted
 * @param {number} q
 */
export function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
}

/**
 * One timed run, then a pause until the server is idle again: requests still
 * in flight when the run stops keep workerd busy (a password hash takes
 * hundreds of ms); they belong to this run's CPU time and must not slow down
 * the next run.
 * @param {LoadCase} spec
 * @param {{ connections: number, duration: number, cpuMs?: () => number }} options
 *   duration in seconds; `cpuMs` reads workerd's cumulative CPU time
 * @returns {Promise<RunResult>}
 */
export async function runLoad(spec, options) {
  await spec.beforeRun?.();
  const duration = options.duration * (spec.durationFactor ?? 1);
  const cpuBefore = options.cpuMs?.() ?? NaN;
  /** @type {number[]} */
  const latencies = [];
  /** @type {Record<string, number>} */
  const statuses = {};
  let connection = 0;
  const setupClient = spec.setupClient;
  const result = await new Promise((resolve, reject) => {
    current = autocannon(
      {
        url: spec.url,
        method: /** @type {autocannon.Request['method']} */ (spec.method ?? 'GET'),
        headers: spec.headers ?? {},
        body: spec.body,
        connections: options.connections,
        duration,
        // Slow cases (a password hash per request, queued behind nine others) must not time out.
        timeout: 60,
        ...(setupClient ? { setupClient: (/** @type {autocannon.Client} */ client) => setupClient(client, connection++) } : {}),
        ...(spec.setupRequest ? { requests: [{ setupRequest: spec.setupRequest }] } : {}),
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    current.on('response', (_client, status, _bytes, ms) => {
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
  current = undefined;
  latencies.sort((a, b) => a - b);
  const ok = latencies.length;
  const max = latencies[latencies.length - 1] ?? NaN;
  // The slowest answer bounds how long a request waited in the server's
  // queue; with no answer at all, requests were in flight the whole run.
  await sleep(Math.min(15_000, Number.isFinite(max) ? max * 1.2 : duration * 1000) + 250);
  const cpuAfter = options.cpuMs?.() ?? NaN;
  const failed = Object.entries(statuses).reduce((n, [status, count]) => (status.startsWith('2') ? n : n + count), 0) + result.errors;
  return {
    rps: ok / result.duration,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max,
    cpuUs: ((cpuAfter - cpuBefore) * 1000) / result.requests.sent,
    ok,
    failed,
    statuses,
  };
}
