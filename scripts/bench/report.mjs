// @ts-check
/**
 * The results: one table (medians over rounds, ratios taken within a round
 * against the health runs on either side of each case), the password-hash
 * cost beside Cloudflare's CPU limits, and the targets.
 */
import { median } from './password-cost.mjs';

/**
 * @typedef {object} CaseRun
 * @property {import('./load.mjs').RunResult} result
 * @property {number} health  mean req/s of the health runs just before and after
 */

/**
 * @typedef {object} Outcome
 * @property {import('./load.mjs').LoadCase[]} cases
 * @property {Map<string, CaseRun[]>} runs   by case key, one per round (health: every health run)
 */

/**
 * @param {number} value
 * @param {number} [digits]
 */
const fixed = (value, digits = 0) => (Number.isFinite(value) ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a');
const pct = (/** @type {number} */ ratio) => (Number.isFinite(ratio) ? `${Math.round(ratio * 100)}%` : 'n/a');

/**
 * Median over rounds of a per-round ratio between two cases.
 * @param {Outcome} outcome
 * @param {string} a
 * @param {string} b
 */
function roundRatio(outcome, a, b) {
  const left = outcome.runs.get(a) ?? [];
  const right = outcome.runs.get(b) ?? [];
  const ratios = left.map((run, i) => run.result.rps / (right[i]?.result.rps ?? NaN)).filter(Number.isFinite);
  return ratios.length ? median(ratios) : NaN;
}

/**
 * @param {Outcome} outcome
 * @param {string} key
 */
function healthRatio(outcome, key) {
  const runs = outcome.runs.get(key) ?? [];
  const ratios = runs.map((r) => r.result.rps / r.health).filter(Number.isFinite);
  return ratios.length ? median(ratios) : NaN;
}

/**
 * The results table, in Markdown.
 * @param {Outcome} outcome
 */
export function resultsTable(outcome) {
  const lines = [
    '| case | req/s | p50 ms | p99 ms | vs health | workerd CPU/req | failed |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const spec of outcome.cases) {
    const runs = outcome.runs.get(spec.key) ?? [];
    if (spec.unavailable || runs.length === 0) {
      lines.push(`| ${spec.title} | ${spec.unavailable ?? 'not run'} | | | | | |`);
      continue;
    }
    const rps = median(runs.map((r) => r.result.rps));
    const p50 = median(runs.map((r) => r.result.p50));
    const p99 = median(runs.map((r) => r.result.p99));
    const failed = runs.reduce((n, r) => n + r.result.failed, 0);
    const cpu = median(runs.map((r) => r.result.cpuUs));
    const cpuText = !Number.isFinite(cpu) ? 'n/a' : cpu >= 10_000 ? `${fixed(cpu / 1000)} ms` : `${fixed(cpu)} µs`;
    const ratio = spec.key === 'health' ? 1 : healthRatio(outcome, spec.key);
    const digits = rps < 100 ? 1 : 0;
    const ms = (/** @type {number} */ v) => fixed(v, v < 100 ? 2 : 0);
    lines.push(`| ${spec.title} | ${fixed(rps, digits)} | ${ms(p50)} | ${ms(p99)} | ${pct(ratio)} | ${cpuText} | ${failed} |`);
  }
  return lines.join('\n');
}

/**
 * @param {import('./password-cost.mjs').PasswordCost} cost
 */
export function passwordReport(cost) {
  const mib = (/** @type {number} */ bytes) => (bytes / 1024 / 1024).toFixed(2);
  const { m, t, p } = cost.params;
  const fits = (/** @type {number} */ limitMs) => (cost.cpuMs <= limitMs ? `fits ${Math.floor(limitMs / cost.cpuMs)} hashes` : `${(cost.cpuMs / limitMs).toFixed(0)}x over: does not fit`);
  return [
    `Password hash: argon2id m=${m} KiB, t=${t}, p=${p} (as stored by the Worker), one per login`,
    cost.method === 'cpu'
      ? `  CPU per hash:    ${fixed(cost.cpuMs)} ms of workerd CPU time (${cost.samples} sequential user creations with a password, ${fixed(cost.withMs)} ms each, minus ${cost.samples} without, ${fixed(cost.withoutMs)} ms each)`
      : `  CPU per hash:    ${fixed(cost.cpuMs)} ms (wall time: median of ${cost.samples} sequential user creations with a password, ${fixed(cost.withMs)} ms, minus ${cost.samples} without, ${fixed(cost.withoutMs)} ms; the hash is synchronous)`,
    `  Memory per hash: ${mib(cost.memoryBytes)} MiB measured (peak ArrayBuffer memory while @noble/hashes runs these parameters in Node, sampled from its progress callback); argon2 itself: m x 1 KiB = ${mib(cost.blockBytes)} MiB`,
    `  Cloudflare CPU limits per request: Free plan 10 ms (${fits(10)}); paid plan default 30 s (${fits(30_000)}); this project's wrangler.toml limits.cpu_ms = 5000 (${fits(5_000)})`,
  ].join('\n');
}

/**
 * The targets, PASS or MISS with the numbers.
 * @param {Outcome} outcome
 * @param {import('./password-cost.mjs').PasswordCost} cost
 */
export function targetsReport(outcome, cost) {
  /** @type {[string, boolean | null, string][]} */
  const rows = [];
  const ran = (/** @type {string[]} */ ...keys) => keys.every((k) => (outcome.runs.get(k)?.length ?? 0) > 0);
  /**
   * @param {string} name
   * @param {string[]} keys  the cases the target needs
   * @param {() => [boolean, string]} judge
   */
  const target = (name, keys, judge) => {
    const missing = outcome.cases.find((c) => keys.includes(c.key) && c.unavailable);
    if (missing) rows.push([name, null, missing.unavailable ?? 'n/a']);
    else if (!ran(...keys)) rows.push([name, null, 'not run']);
    else rows.push([name, ...judge()]);
  };
  for (const key of ['authorize-allowed', 'authorize-denied']) {
    target(`${key.replace('-', ', ')} >= 50% of health`, [key], () => {
      const ratio = healthRatio(outcome, key);
      return [ratio >= 0.5, pct(ratio)];
    });
  }
  target('JWKS >= 85% of health', ['jwks'], () => {
    const ratio = healthRatio(outcome, 'jwks');
    return [ratio >= 0.85, pct(ratio)];
  });
  target('client_credentials >= 80% of the sign-only worker', ['client-credentials', 'sign-only'], () => {
    const ratio = roundRatio(outcome, 'client-credentials', 'sign-only');
    return [ratio >= 0.8, `${pct(ratio)} (and ${pct(healthRatio(outcome, 'client-credentials'))} of health)`];
  });
  target('list users page 100 within 3x of page 1', ['list-page-1', 'list-page-100'], () => {
    const pages = roundRatio(outcome, 'list-page-1', 'list-page-100');
    return [pages <= 3, `page 100 takes ${pages.toFixed(2)}x page 1 (req/s ratio)`];
  });
  const mib = cost.memoryBytes / 1024 / 1024;
  rows.push(['password hashing <= 20 MiB per hash', mib <= 20, `${mib.toFixed(2)} MiB`]);
  return rows.map(([name, ok, numbers]) => `  ${ok === null ? 'n/a ' : ok ? 'PASS' : 'MISS'}  ${name}: ${numbers}`).join('\n');
}
