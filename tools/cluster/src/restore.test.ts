// Backups across kvd and real etcd 3.4, with real processes on loopback ports:
// 1. kvd → `kvctl snapshot save` → `kvctl snapshot restore` → kvd on the restored dir serves every
//    key (same create/mod revisions, versions, leases), the same revision, the same lease;
// 2. one snapshot restored into three data dirs (one per --name) → the three kvd form a cluster;
// 3. real etcd → `etcdctl snapshot save` → `kvctl snapshot restore` → kvd serves exactly what
//    etcd served (`etcdctl get --prefix -w json` kvs and revision), and `etcdctl snapshot restore`
//    of the same file gives etcd the same (both tools build a working dir from it);
// 4. `kvctl snapshot status` prints what `etcdctl snapshot status` prints, byte for byte, in every
//    -w format, on etcd's and on kvd's snapshot file;
// 5. hostile files (truncated, wrong hash, random bytes, missing) and a data dir that exists: the
//    same "Error:" line and exit code as etcdctl where etcdctl gives one, and no data dir left.
// The parts that need etcd (or kvd) skip when it is not installed (or built).
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, truncate, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ETCDCTL_BIN, freePorts, memberArgs, runProcess, type RunResult } from '@kv/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverBinary, unavailableReason, type ServerKind } from './binaries.js';
import { MemberProcess } from './member.js';

const KVCTL_BIN = fileURLToPath(new URL('../../../apps/ctl/bin/kvctl', import.meta.url));
const ETCD_FIXTURE = fileURLToPath(new URL('../../../packages/server/src/testdata/etcd-3.4.snapshot.db', import.meta.url));

const kvdSkip = unavailableReason('kvd') ?? (existsSync(KVCTL_BIN) ? undefined : `${KVCTL_BIN} missing`);
const etcdSkip = unavailableReason('etcd') ?? (existsSync(ETCDCTL_BIN) ? undefined : `${ETCDCTL_BIN} not found`);

type Tool = 'kvctl' | 'etcdctl';

function ctl(tool: Tool, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ETCDCTL_API: '3' };
  return runProcess(tool === 'kvctl' ? KVCTL_BIN : ETCDCTL_BIN, args, { env, timeoutMs });
}

/** Runs a tool and expects exit 0; returns its stdout. */
async function ok(tool: Tool, args: string[]): Promise<string> {
  const r = await ctl(tool, args);
  if (r.code !== 0) throw new Error(`${tool} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** The "Error: ..." lines of a run's stderr (log lines and timestamps left out). */
const errorLines = (r: RunResult) => r.stderr.split('\n').filter((l) => l.startsWith('Error:'));

let base: string;
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'kv-restore-'));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

const started: MemberProcess[] = [];
afterAll(async () => {
  for (const m of started.splice(0)) {
    await m.stop();
    await m.closeLog();
  }
});

interface Layout {
  names: string[];
  peer: string[];
  client: string[];
  initialCluster: string;
  token: string;
}

async function plan(names: string[], token: string): Promise<Layout> {
  const ports = await freePorts(2 * names.length);
  const client = names.map((_, i) => `http://127.0.0.1:${ports[2 * i]}`);
  const peer = names.map((_, i) => `http://127.0.0.1:${ports[2 * i + 1]}`);
  return { names, peer, client, token, initialCluster: names.map((n, i) => `${n}=${peer[i]}`).join(',') };
}

/** Starts `kind` members on data dirs `dirs` (made by a restore, or empty), waits until healthy. */
async function startMembers(kind: ServerKind, l: Layout, dirs: string[]): Promise<MemberProcess[]> {
  const ms = l.names.map(
    (name, i) =>
      new MemberProcess({
        name,
        clientPort: Number(new URL(l.client[i]!).port),
        peerPort: Number(new URL(l.peer[i]!).port),
        dataDir: dirs[i]!,
        logFile: `${dirs[i]}.log`,
        bin: serverBinary(kind),
        stopTimeoutMs: 10_000,
        readyTimeoutMs: 60_000,
        args: memberArgs({
          name,
          dataDir: dirs[i]!,
          clientUrl: l.client[i]!,
          peerUrl: l.peer[i]!,
          initialCluster: l.initialCluster,
          initialClusterState: 'new',
          token: l.token,
        }),
      }),
  );
  started.push(...ms);
  for (const m of ms) m.start();
  try {
    await Promise.all(ms.map((m) => m.waitHealthy(60_000)));
  } catch (e) {
    throw new Error(
      `${kind} did not become healthy: ${(e as Error).message}\n${ms.map((m) => `--- ${m.name}\n${m.logTail(20)}`).join('\n')}`,
    );
  }
  return ms;
}

async function stopMembers(ms: MemberProcess[]): Promise<void> {
  for (const m of ms) {
    await m.stop();
    await m.closeLog();
    started.splice(started.indexOf(m), 1);
  }
}

/** The same writes on any server: overwrites, a delete, a compaction, a lease with a key, binary data. */
async function writeData(tool: Tool, ep: string): Promise<string> {
  const e = [`--endpoints=${ep}`];
  for (const [k, v] of [
    ['/a', '1'],
    ['/a', '2'],
    ['/b', 'hello'],
    ['/del', 'x'],
  ]) {
    await ok(tool, [...e, 'put', k!, v!]);
  }
  await ok(tool, [...e, 'del', '/del']);
  await ok(tool, [...e, 'compaction', '3']);
  const lease = (await ok(tool, [...e, 'lease', 'grant', '3600'])).split(' ')[1]!;
  await ok(tool, [...e, 'put', '/leased', 'v', `--lease=${lease}`]);
  for (let i = 0; i < 50; i++) await ok(tool, [...e, 'put', `/many/${String(i).padStart(3, '0')}`, `value-${i}`]);
  return lease;
}

/** What a server serves of the key space: kvs and revision (`etcdctl get "" --prefix -w json`). */
async function keySpace(ep: string): Promise<{ kvs: unknown; revision: unknown }> {
  const j = JSON.parse(await ok('etcdctl', [`--endpoints=${ep}`, 'get', '', '--prefix', '-w', 'json'])) as {
    kvs: unknown;
    header: { revision: unknown };
  };
  return { kvs: j.kvs, revision: j.header.revision };
}

const ep = (url: string) => url.replace('http://', '');

describe.skipIf(kvdSkip !== undefined)('kvd → kvctl snapshot save → kvctl snapshot restore → kvd', () => {
  let file: string;
  let before: { kvs: unknown; revision: unknown };
  let lease: string;

  beforeAll(async () => {
    const src = await plan(['src'], 'source-cluster');
    const [m] = await startMembers('kvd', src, [join(base, 'kvd-src')]);
    lease = await writeData('kvctl', ep(src.client[0]!));
    before = await keySpace(ep(src.client[0]!));
    file = join(base, 'kvd.snapshot.db');
    const out = await ok('kvctl', [`--endpoints=${ep(src.client[0]!)}`, 'snapshot', 'save', file]);
    expect(out).toBe(`Snapshot saved at ${file}\n`);
    expect(existsSync(`${file}.part`)).toBe(false);
    await stopMembers([m!]);
  }, 180_000);

  it('one member: every key, revision and lease is there', async () => {
    const l = await plan(['r1'], 'restored-1');
    const dir = join(base, 'kvd-r1');
    await ok('kvctl', [
      'snapshot',
      'restore',
      file,
      '--name=r1',
      `--data-dir=${dir}`,
      `--initial-cluster=${l.initialCluster}`,
      `--initial-cluster-token=${l.token}`,
      `--initial-advertise-peer-urls=${l.peer[0]}`,
    ]);
    const ms = await startMembers('kvd', l, [dir]);
    try {
      const after = await keySpace(ep(l.client[0]!));
      expect(after).toEqual(before);
      const ttl = await ok('etcdctl', [`--endpoints=${ep(l.client[0]!)}`, 'lease', 'timetolive', lease, '--keys']);
      expect(ttl).toMatch(
        new RegExp(`^lease ${lease} granted with TTL\\(3600s\\), remaining\\(\\d+s\\), attached keys\\(\\[/leased\\]\\)\\n$`),
      );
      // And it takes writes at the next revision.
      await ok('etcdctl', [`--endpoints=${ep(l.client[0]!)}`, 'put', '/after', 'x']);
      expect((await keySpace(ep(l.client[0]!))).revision).toBe((before.revision as number) + 1);
    } finally {
      await stopMembers(ms);
    }
  }, 180_000);

  it('three members, one dir per --name: the cluster forms and serves the keys', async () => {
    const l = await plan(['c1', 'c2', 'c3'], 'restored-3');
    const dirs = l.names.map((n) => join(base, `kvd-${n}`));
    for (let i = 0; i < 3; i++) {
      await ok('kvctl', [
        'snapshot',
        'restore',
        file,
        `--name=${l.names[i]}`,
        `--data-dir=${dirs[i]}`,
        `--initial-cluster=${l.initialCluster}`,
        `--initial-cluster-token=${l.token}`,
        `--initial-advertise-peer-urls=${l.peer[i]}`,
      ]);
    }
    const ms = await startMembers('kvd', l, dirs);
    try {
      const list = await ok('etcdctl', [`--endpoints=${ep(l.client[0]!)}`, 'member', 'list']);
      expect(
        list
          .trim()
          .split('\n')
          .map((x) => x.split(', ').slice(1, 4).join(' '))
          .sort(),
      ).toEqual(l.names.map((n, i) => `started ${n} ${l.peer[i]}`));
      for (const c of l.client) expect(await keySpace(ep(c))).toEqual(before);
      await ok('etcdctl', [`--endpoints=${ep(l.client[1]!)}`, 'put', '/three', 'yes']);
      const got = await ok('etcdctl', [`--endpoints=${ep(l.client[2]!)}`, 'get', '/three', '--print-value-only']);
      expect(got).toBe('yes\n');
    } finally {
      await stopMembers(ms);
    }
  }, 240_000);

  it.skipIf(etcdSkip !== undefined)(
    "kvctl snapshot status prints etcdctl's bytes for kvd's file",
    async () => {
      for (const w of ['simple', 'table', 'json', 'fields', 'protobuf']) {
        const [k, e] = [
          await ctl('kvctl', ['snapshot', 'status', file, '-w', w]),
          await ctl('etcdctl', ['snapshot', 'status', file, '-w', w]),
        ];
        expect({ w, out: k.stdout, code: k.code, err: errorLines(k) }).toEqual({ w, out: e.stdout, code: e.code, err: errorLines(e) });
      }
    },
    60_000,
  );
});

describe.skipIf(etcdSkip !== undefined || kvdSkip !== undefined)('etcd 3.4 → etcdctl snapshot save → kvctl snapshot restore → kvd', () => {
  let file: string;
  let before: { kvs: unknown; revision: unknown };

  beforeAll(async () => {
    const src = await plan(['esrc'], 'etcd-source');
    const [m] = await startMembers('etcd', src, [join(base, 'etcd-src')]);
    await writeData('etcdctl', ep(src.client[0]!));
    before = await keySpace(ep(src.client[0]!));
    file = join(base, 'etcd.snapshot.db');
    await ok('etcdctl', [`--endpoints=${ep(src.client[0]!)}`, 'snapshot', 'save', file]);
    await stopMembers([m!]);
  }, 120_000);

  it('kvd serves what etcd served; etcd restored from the same file serves the same', async () => {
    const l = await plan(['k1'], 'from-etcd');
    const kdir = join(base, 'from-etcd-kvd');
    const args = (dir: string) => [
      'snapshot',
      'restore',
      file,
      '--name=k1',
      `--data-dir=${dir}`,
      `--initial-cluster=${l.initialCluster}`,
      `--initial-cluster-token=${l.token}`,
      `--initial-advertise-peer-urls=${l.peer[0]}`,
    ];
    await ok('kvctl', args(kdir));
    const ms = await startMembers('kvd', l, [kdir]);
    let onKvd: { kvs: unknown; revision: unknown };
    let kvctlGet: string;
    try {
      onKvd = await keySpace(ep(l.client[0]!));
      kvctlGet = await ok('kvctl', [`--endpoints=${ep(l.client[0]!)}`, 'get', '', '--prefix']);
    } finally {
      await stopMembers(ms);
    }
    expect(onKvd).toEqual(before);

    const edir = join(base, 'from-etcd-etcd');
    await ok('etcdctl', args(edir));
    const es = await startMembers('etcd', l, [edir]);
    try {
      expect(await keySpace(ep(l.client[0]!))).toEqual(before);
      expect(await ok('etcdctl', [`--endpoints=${ep(l.client[0]!)}`, 'get', '', '--prefix'])).toBe(kvctlGet);
    } finally {
      await stopMembers(es);
    }
  }, 240_000);

  it("kvctl snapshot status prints etcdctl's bytes in every -w format", async () => {
    for (const f of [file, ETCD_FIXTURE]) {
      for (const w of ['simple', 'table', 'json', 'fields', 'protobuf', 'nope']) {
        const [k, e] = await Promise.all([
          ctl('kvctl', ['snapshot', 'status', f, '-w', w]),
          ctl('etcdctl', ['snapshot', 'status', f, '-w', w]),
        ]);
        expect({ w, out: k.stdout, code: k.code, err: errorLines(k) }).toEqual({ w, out: e.stdout, code: e.code, err: errorLines(e) });
      }
    }
  }, 240_000);
});

describe.skipIf(kvdSkip !== undefined)('hostile snapshot files', () => {
  const restoreInto = (tool: Tool, f: string, dir: string, extra: string[] = []) =>
    ctl(tool, ['snapshot', 'restore', f, `--data-dir=${dir}`, ...extra]);
  /** Nothing named after `dir` is left in base (no data dir, no stage). */
  const leftovers = (dir: string) => {
    const name = dir.split('/').pop()!;
    return readdirSync(base).filter((n) => n === name || n.startsWith(`.${name}.restore-`));
  };

  it.each([
    [
      'truncated',
      async (f: string) => {
        await copyFile(ETCD_FIXTURE, f);
        await truncate(f, 10_000);
      },
    ],
    [
      'wrong hash',
      async (f: string) => {
        const b = await readFile(ETCD_FIXTURE);
        b[b.length - 1]! ^= 1;
        await writeFile(f, b);
      },
    ],
    [
      'random bytes with a trailer-sized length',
      async (f: string) => {
        const b = Buffer.alloc(20_512);
        for (let i = 0; i < b.length; i++) b[i] = (i * 7919 + 13) & 0xff;
        await writeFile(f, b);
      },
    ],
    ['missing', async () => undefined],
  ])(
    '%s: a clear error, no data dir',
    async (what, make) => {
      const f = join(base, `hostile-${what.replace(/ /g, '-')}.db`);
      await make(f);
      const dir = join(base, `hostile-out-${what.replace(/ /g, '-')}`);
      const k = await restoreInto('kvctl', f, dir);
      expect(k.code).toBe(1);
      expect(errorLines(k)).toHaveLength(1);
      expect(leftovers(dir)).toEqual([]);
      if (etcdSkip === undefined) {
        // etcdctl's words for the same file (etcdctl leaves a half-built dir: not compared).
        const e = await restoreInto('etcdctl', f, `${dir}-etcd`);
        expect({ code: k.code, err: errorLines(k) }).toEqual({ code: e.code, err: errorLines(e) });
      }
      // Past the hash check, a damaged database is still refused by kvctl, and leaves nothing. (A
      // wrong trailer on an intact database restores with --skip-hash-check, as on etcd.)
      if (what === 'truncated' || what.startsWith('random')) {
        const s = await restoreInto('kvctl', f, dir, ['--skip-hash-check']);
        expect(s.code).toBe(1);
        expect(errorLines(s)[0]).toMatch(/not a bbolt database|bad record|cannot be loaded/);
        expect(leftovers(dir)).toEqual([]);
      }
    },
    60_000,
  );

  it("an existing data dir is refused with etcd's text", async () => {
    const dir = join(base, 'exists');
    await writeFile(dir, '');
    const k = await restoreInto('kvctl', ETCD_FIXTURE, dir);
    expect(k.code).toBe(1);
    expect(errorLines(k)).toEqual([`Error: data-dir "${dir}" exists`]);
    if (etcdSkip === undefined) expect(errorLines(await restoreInto('etcdctl', ETCD_FIXTURE, dir))).toEqual(errorLines(k));
  }, 120_000);
});
