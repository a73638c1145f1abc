// @ts-check
/**
 * What one password hash costs a login: CPU time in workerd and memory.
 *
 * CPU: pairs of sequential user creations, one with a password and one
 * without, otherwise identical; the difference is one argon2id hash, in
 * workerd's own CPU time (so neighbours on a busy machine do not inflate
 * it), or in wall time where /proc cannot tell (the hash is synchronous, so
 * on an idle machine both agree). Memory:
 * the parameters the Worker actually stored (read back from D1), run through
 * the same @noble/hashes code in Node, sampling ArrayBuffer memory from the
 * hash's progress callback; argon2's own accounting (m blocks of 1 KiB) is
 * printed beside it.
 */
import { argon2id } from '@noble/hashes/argon2.js';
import { performance } from 'node:perf_hooks';
import { expectApi } from './seed.mjs';
import { HEIMDALL } from './server.mjs';

/**
 * @typedef {object} PasswordCost
 * @property {{ m: number, t: number, p: number }} params  as stored by the Worker
 * @property {number} cpuMs         per hash, in workerd
 * @property {'cpu' | 'wall'} method  workerd CPU time (from /proc) or, where it cannot be read, wall time
 * @property {number} withMs        a creation with a password (mean CPU, or median wall time)
 * @property {number} withoutMs     a creation without
 * @property {number} samples
 * @property {number} memoryBytes   measured peak per hash
 * @property {number} blockBytes    m KiB: argon2's memory by definition
 */

/** @param {number[]} values */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] ?? NaN : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

/**
 * @param {import('./server.mjs').BenchServer} server
 * @param {import('./seed.mjs').Seed} seed
 * @param {number} samples
 * @returns {Promise<PasswordCost>}
 */
export async function measurePasswordCost(server, seed, samples) {
  const path = `/v1/apps/${seed.writesApp.name}/users`;
  const cpu = server.cpuMs;
  /** @type {Record<'with' | 'without', { wall: number[], cpu: number }>} */
  const runs = { with: { wall: [], cpu: 0 }, without: { wall: [], cpu: 0 } };
  // One unrecorded pair first, so neither side pays for a cold code path.
  for (let i = -1; i < samples; i++) {
    for (const side of /** @type {const} */ (['with', 'without'])) {
      const body = { email: `hash${i + 1}-${side}@writes.example.com`, ...(side === 'with' ? { password: seed.password } : {}) };
      const cpuBefore = cpu?.() ?? NaN;
      const started = performance.now();
      await expectApi(server, 201, 'POST', path, body);
      const elapsed = performance.now() - started;
      if (i >= 0) {
        runs[side].wall.push(elapsed);
        runs[side].cpu += (cpu?.() ?? NaN) - cpuBefore;
      }
    }
  }

  const db = await server.mf.getD1Database('DB', HEIMDALL);
  const row = await db.prepare('SELECT password_hash AS hash FROM users WHERE app_id = ?1 AND email = ?2')
    .bind(seed.writesApp.id, 'hash1-with@writes.example.com')
    .first();
  const match = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(String(row?.hash));
  if (!match) throw new Error('the stored password hash is not an argon2id PHC string');
  const params = { m: Number(match[1]), t: Number(match[2]), p: Number(match[3]) };

  const before = process.memoryUsage().arrayBuffers;
  let peak = before;
  argon2id('correct horse battery staple', 'a 16-byte salt..', {
    ...params,
    dkLen: 32,
    onProgress: () => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    },
  });

  // workerd's CPU time (ticks of 10 ms, summed over the samples) when /proc
  // tells it; wall time otherwise (the hash is synchronous, so on an idle
  // machine they agree, and on a busy one CPU time does not count waiting).
  const cpuMs = (runs.with.cpu - runs.without.cpu) / samples;
  return {
    params,
    cpuMs: Number.isFinite(cpuMs) ? cpuMs : median(runs.with.wall) - median(runs.without.wall),
    method: Number.isFinite(cpuMs) ? 'cpu' : 'wall',
    withMs: Number.isFinite(cpuMs) ? runs.with.cpu / samples : median(runs.with.wall),
    withoutMs: Number.isFinite(cpuMs) ? runs.without.cpu / samples : median(runs.without.wall),
    samples,
    memoryBytes: peak - before,
    blockBytes: params.m * 1024,
  };
}
