// The short CI run: a 3-member kvd cluster under kill, pause, partition and failpoint faults with
// the register, list-append and watch workloads, for one minute. Nothing anomalous, nothing lost,
// and a report written.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bugEnv } from './bugs.js';
import { parseArgs, UsageError } from './cli.js';
import { runJepsen } from './run.js';

describe('pnpm jepsen flags', () => {
  it('parses a run and refuses bad flags with the reason', () => {
    const o = parseArgs(
      [
        '--minutes',
        '0.5',
        '--members',
        '5',
        '--server',
        'etcd',
        '--seed',
        '7',
        '--workload',
        'register,watch',
        '--nemesis',
        'kill,transfer',
      ],
      () => 1,
    );
    expect(o).toMatchObject({
      durationMs: 30_000,
      members: 5,
      server: 'etcd',
      seed: 7,
      workloads: ['register', 'watch'],
      nemeses: ['kill', 'transfer'],
    });
    expect(() => parseArgs(['--seconds', '5', '--workload', 'bank'], () => 1)).toThrow(/unknown workload "bank"/);
    expect(() => parseArgs(['--members', '3'], () => 1)).toThrow(UsageError);
    expect(() => parseArgs(['--minutes', '1', '--members', '4'], () => 1)).toThrow(/3 or 5/);
  });

  it('takes a bug to put back (kvd only) and can skip the read probe', () => {
    expect(parseArgs(['--seconds', '5', '--bug', 'read-index-collision', '--no-read-probe'], () => 1)).toMatchObject({
      bug: 'read-index-collision',
      readProbe: false,
    });
    expect(() => parseArgs(['--seconds', '5', '--bug', 'typo'], () => 1)).toThrow(/--bug must be one of read-index-collision/);
    expect(() => parseArgs(['--seconds', '5', '--server', 'etcd', '--bug', 'read-index-collision'], () => 1)).toThrow(/kvd only/);
  });

  it('preloads a bug through NODE_OPTIONS, keeping what was there', () => {
    const env = bugEnv('read-index-collision', '--max-old-space-size=512');
    expect(env.NODE_OPTIONS).toMatch(/^--max-old-space-size=512 --import=".*\/bugs\/read_index_collision\.js"$/);
    expect(bugEnv('read-index-collision', undefined).NODE_OPTIONS).toMatch(/^--import=/);
  });
});

describe('jepsen harness on kvd', () => {
  let out: string | undefined;
  afterAll(async () => {
    if (out !== undefined) await rm(out, { recursive: true, force: true });
  });

  it('finds no anomaly and loses nothing under kill, pause, partition and failpoints', async () => {
    out = await mkdtemp(join(tmpdir(), 'kv-jepsen-'));
    const r = await runJepsen({
      server: 'kvd',
      members: 3,
      durationMs: 60_000,
      seed: 20261201,
      workloads: ['register', 'append', 'watch'],
      nemeses: ['kill', 'pause', 'partition', 'failpoint'],
      outDir: out,
      log: () => undefined,
    });
    const real = r.anomalies.filter((a) => !a.expected);
    expect(real.map((a) => `${a.checker}/${a.type}: ${a.message}`)).toEqual([]);
    expect(r.lost).toBe(0);
    expect(r.result.valid).toBe(true);
    expect(r.ok).toBe(true);
    // The run did something: operations of each workload were checked, faults were injected.
    expect(r.result.stats['register.ops']).toBeGreaterThan(100);
    expect(r.result.stats['probe.reads']).toBe(3 * 8);
    expect(r.result.stats['append.txns']).toBeGreaterThan(50);
    expect(r.result.stats['watch.delivered']).toBeGreaterThan(100);
    expect(r.result.stats['lost.writes']! + r.result.stats['lost.appends']!).toBeGreaterThan(50);
    expect(Object.values(r.figures.faults).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(existsSync(r.reportPath)).toBe(true);
    const html = readFileSync(r.reportPath, 'utf8');
    expect(html).toContain('<canvas id="tl"');
    expect(html).toContain('>valid<');
  }, 300_000);

  // The bug etcd's Go client found from outside (reads spread over all members stall): ReadIndex
  // contexts that two members share. Put back into real kvd processes, the start-up read probe
  // must see reads that waited for a retry.
  it('finds the read-index collision when it is put back', async () => {
    out ??= await mkdtemp(join(tmpdir(), 'kv-jepsen-'));
    const r = await runJepsen({
      server: 'kvd',
      members: 3,
      durationMs: 1_000,
      seed: 1,
      workloads: ['register'],
      nemeses: [],
      bug: 'read-index-collision',
      outDir: out,
      log: () => undefined,
    });
    const stalls = r.anomalies.filter((a) => a.checker === 'read-probe' && a.type === 'read-stall');
    expect(stalls.length).toBeGreaterThan(0);
    expect(stalls[0]!.message).toMatch(/took \d+ ms on an idle cluster with no fault/);
    expect(r.ok).toBe(false);
    expect(readFileSync(r.reportPath, 'utf8')).toContain('read-probe · read-stall');
  }, 120_000);
});
