// Backups both ways between kvd and real etcd 3.4, with etcd's own tools, on real processes
// (loopback, free ports, every process stopped by PID):
// (a) kvd → `etcdctl snapshot save` → `etcdctl snapshot status` (revision = kvd's, total keys =
//     the file's records, hash = kvctl's) → `etcdctl snapshot restore` → etcd serves exactly what
//     kvd served: `get "" --prefix -w json` kvs (keys, values, create/mod revisions, versions,
//     leases) and revision, the lease with its key, the compaction;
// (c) etcd → `etcdctl snapshot save` → `kvctl snapshot restore` → kvd → `etcdctl snapshot save`
//     → `etcdctl snapshot restore` → etcd: the kvs and revision are identical at all three, and
//     `endpoint hashkv` is equal at all three. (`endpoint hash` and `snapshot status`'s hash are
//     not comparable: they cover the members, the consistent index and, for hash, etcd's
//     bucket layout; the header's cluster/member ids and raft term are the new cluster's.)
//     Between the two files the key, lease, alarm and cluster buckets and the compaction marks
//     are byte for byte the same.
// (e) a kvd snapshot cut short or with a flipped byte: kvctl and etcdctl refuse it with the same
//     error, kvctl leaves no data dir; with --skip-hash-check a cut file is still refused.
import { Client, Op } from '@kv/client';
import { openBolt } from '@kv/mvcc';
import { ETCDCTL_BIN, runProcess, type RunResult } from '@kv/testkit';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unavailableReason, type ServerKind } from './binaries.js';
import type { MemberProcess } from './member.js';
import { type OneMember, oneMemberLayout, restoreFlags, startOneMember } from './testdata/one_member.js';

const KVCTL_BIN = fileURLToPath(new URL('../../../apps/ctl/bin/kvctl', import.meta.url));
const skip =
  unavailableReason('kvd') ??
  unavailableReason('etcd') ??
  (existsSync(KVCTL_BIN) ? undefined : `${KVCTL_BIN} missing`) ??
  (existsSync(ETCDCTL_BIN) ? undefined : `${ETCDCTL_BIN} not found`);

type Tool = 'kvctl' | 'etcdctl';

function ctl(tool: Tool, args: string[]): Promise<RunResult> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ETCDCTL_API: '3' };
  return runProcess(tool === 'kvctl' ? KVCTL_BIN : ETCDCTL_BIN, args, { env, timeoutMs: 120_000 });
}

async function ok(tool: Tool, args: string[]): Promise<string> {
  const r = await ctl(tool, args);
  if (r.code !== 0) throw new Error(`${tool} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

let base: string;
const running: MemberProcess[] = [];
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'kv-backup-interop-'));
});
afterAll(async () => {
  for (const m of running.splice(0)) {
    await m.stop();
    await m.closeLog();
  }
  await rm(base, { recursive: true, force: true });
});

const start = (kind: ServerKind, l: OneMember, dir: string) => startOneMember(kind, l, dir, running);
const layout = oneMemberLayout;

async function stop(m: MemberProcess): Promise<void> {
  await m.stop();
  await m.closeLog();
  running.splice(running.indexOf(m), 1);
}

/**
 * The same writes on any server: overwrites, a delete, a compaction, a lease with a key, a
 * 100 KB value (bbolt overflow pages), non-ASCII keys and values, and 3000 keys in txns (enough
 * leaf pages for a branch level in the key bucket). Returns the lease id (hex).
 */
/** Keys writeData leaves: /a, /leased, /big, /ключ and 3000 under /many/. */
const LIVE_KEYS = 3004;

async function writeData(ep: string): Promise<string> {
  const e = [`--endpoints=${ep}`];
  await ok('etcdctl', [...e, 'put', '/a', '1']);
  await ok('etcdctl', [...e, 'put', '/a', '2']);
  await ok('etcdctl', [...e, 'put', '/del', 'x']);
  await ok('etcdctl', [...e, 'del', '/del']);
  await ok('etcdctl', [...e, 'compaction', '3']);
  const lease = /lease ([0-9a-f]+) granted/.exec(await ok('etcdctl', [...e, 'lease', 'grant', '3600']))?.[1];
  if (!lease) throw new Error('no lease id');
  await ok('etcdctl', [...e, 'put', '/leased', 'v', `--lease=${lease}`]);
  await ok('etcdctl', [...e, 'put', '/big', 'b'.repeat(100_000)]);
  await ok('etcdctl', [...e, 'put', '/ключ', 'значение ✓']);
  const client = new Client({ endpoints: [ep] });
  try {
    for (let t = 0; t < 30; t++) {
      const ops = Array.from({ length: 100 }, (_, i) => Op.put(`/many/${t}/${i}`, `value ${t} ${i} ${'x'.repeat(i)}`));
      await client
        .txn()
        .then(...ops)
        .commit();
    }
  } finally {
    client.close();
  }
  await ok('etcdctl', [...e, 'put', '/a', '3']);
  return lease;
}

interface Served {
  kvs: unknown;
  revision: unknown;
  hashkv: { hash: unknown; compactRevision: unknown };
  lease: string;
}

/** What a server serves: the key space (`get "" --prefix -w json`), hashkv, the lease's keys. */
async function served(ep: string, leaseHex: string): Promise<Served> {
  const e = [`--endpoints=${ep}`];
  const g = JSON.parse(await ok('etcdctl', [...e, 'get', '', '--prefix', '-w', 'json'])) as { kvs: unknown; header: { revision: unknown } };
  const h = JSON.parse(await ok('etcdctl', [...e, 'endpoint', 'hashkv', '-w', 'json'])) as {
    HashKV: { hash: unknown; compact_revision: unknown };
  }[];
  const ttl = await ok('etcdctl', [...e, 'lease', 'timetolive', leaseHex, '--keys']);
  // The remaining TTL is the member's own clock: the granted TTL and the keys are what carries over.
  const lease = ttl.replace(/remaining\(\d+s\)/, 'remaining(_)');
  return {
    kvs: g.kvs,
    revision: g.header.revision,
    hashkv: { hash: h[0]!.HashKV.hash, compactRevision: h[0]!.HashKV.compact_revision },
    lease,
  };
}

interface Status {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
}
/** A snapshot file's bbolt database (trailer cut off): bucket names, and a bucket's records as hex/latin1. */
async function boltOf(file: string): Promise<{ names: string[]; records: (bucket: string) => [string, string][] }> {
  const buf = await readFile(file);
  const db = openBolt(buf.subarray(0, buf.length - 32));
  return {
    names: db.buckets().map((n) => n.toString()),
    records: (bucket) => [...db.entries(Buffer.from(bucket))].map(([k, v]) => [k.toString('latin1'), v.toString('hex')]),
  };
}

const status = async (tool: Tool, file: string) => JSON.parse(await ok(tool, ['snapshot', 'status', file, '-w', 'json'])) as Status;

describe.skipIf(skip !== undefined)('backups between kvd and real etcd 3.4', () => {
  it('(a) kvd → etcdctl snapshot save/status/restore → etcd serves what kvd served', async () => {
    const src = await layout('kvsrc', 'kv-source');
    const m = await start('kvd', src, join(base, 'a-kvd'));
    const file = join(base, 'a-kvd.snapshot.db');
    let before: Served;
    try {
      const lease = await writeData(src.client);
      before = await served(src.client, lease);
      expect(before.kvs).toHaveLength(LIVE_KEYS);
      expect((await ok('etcdctl', [`--endpoints=${src.client}`, 'snapshot', 'save', file])).trim()).toBe(`Snapshot saved at ${file}`);
    } finally {
      await stop(m);
    }
    // snapshot status: etcdctl reads it; the revision is kvd's; etcdctl and kvctl agree on it all.
    const st = await status('etcdctl', file);
    expect(st.revision).toBe(before.revision);
    expect(await status('kvctl', file)).toEqual(st);
    // 3000 + 6 key-bucket records survive the compaction (at least), plus meta, members, cluster, lease.
    expect(st.totalKey).toBeGreaterThan(3000 + 6 + 3 + 1 + 1 + 1);
    expect(st.totalSize).toBe((await readFile(file)).length - 32);

    const to = await layout('etcddst', 'etcd-from-kv');
    const dir = join(base, 'a-etcd');
    await ok('etcdctl', ['snapshot', 'restore', file, ...restoreFlags(to, dir)]);
    const e = await start('etcd', to, dir);
    try {
      const after = await served(to.client, /lease ([0-9a-f]+)/.exec(before.lease)![1]!);
      expect(after).toEqual(before);
      expect(before.lease).toMatch(/granted with TTL\(3600s\), remaining\(_\), attached keys\(\[\/leased\]\)/);
      // The compaction carried over: revision 2 is gone on etcd too.
      const r = await ctl('etcdctl', [`--endpoints=${to.client}`, 'get', '/a', '--rev=2']);
      expect(r.stderr).toMatch(/required revision has been compacted/);
      // And etcd takes writes at the next revision, with its own member list.
      await ok('etcdctl', [`--endpoints=${to.client}`, 'put', '/after', 'x']);
      const list = await ok('etcdctl', [`--endpoints=${to.client}`, 'member', 'list']);
      expect(
        list
          .trim()
          .split('\n')
          .map((x) => x.split(', ').slice(2, 4).join(' ')),
      ).toEqual([`etcddst ${to.peer}`]);
    } finally {
      await stop(e);
    }
  }, 300_000);

  it('(c) etcd → kvctl restore → kvd → etcdctl save/restore → etcd: the same kvs and hashkv at all three', async () => {
    const src = await layout('esrc', 'etcd-source');
    const m = await start('etcd', src, join(base, 'c-etcd-src'));
    const first = join(base, 'c-etcd.snapshot.db');
    let lease: string;
    let onEtcd: Served;
    try {
      lease = await writeData(src.client);
      onEtcd = await served(src.client, lease);
      expect(onEtcd.kvs).toHaveLength(LIVE_KEYS);
      await ok('etcdctl', [`--endpoints=${src.client}`, 'snapshot', 'save', first]);
    } finally {
      await stop(m);
    }

    const mid = await layout('kmid', 'kv-middle');
    const kdir = join(base, 'c-kvd');
    await ok('kvctl', ['snapshot', 'restore', first, ...restoreFlags(mid, kdir)]);
    const k = await start('kvd', mid, kdir);
    const second = join(base, 'c-kvd.snapshot.db');
    try {
      expect(await served(mid.client, lease)).toEqual(onEtcd);
      await ok('etcdctl', [`--endpoints=${mid.client}`, 'snapshot', 'save', second]);
    } finally {
      await stop(k);
    }
    // The records went through kv unchanged: key and lease buckets byte for byte, the compaction
    // marks; kv's file has etcd's ten buckets and no kv-only meta key.
    const [s1, s2] = [await status('etcdctl', first), await status('etcdctl', second)];
    expect(s2.revision).toBe(s1.revision);
    const [b1, b2] = [await boltOf(first), await boltOf(second)];
    expect(b2.names).toEqual(b1.names);
    for (const bucket of ['key', 'lease', 'alarm']) expect(b2.records(bucket)).toEqual(b1.records(bucket));
    const meta = (b: typeof b1) => b.records('meta').filter(([k]) => k !== 'consistent_index');
    expect(meta(b2)).toEqual(meta(b1));
    expect(b2.records('cluster')).toEqual(b1.records('cluster'));

    const back = await layout('eback', 'etcd-back');
    const edir = join(base, 'c-etcd-back');
    await ok('etcdctl', ['snapshot', 'restore', second, ...restoreFlags(back, edir)]);
    const e = await start('etcd', back, edir);
    try {
      expect(await served(back.client, lease)).toEqual(onEtcd);
    } finally {
      await stop(e);
    }
  }, 300_000);

  it('(e) a kvd snapshot cut short or with a flipped byte is refused; kvctl leaves no data dir', async () => {
    const src = await layout('hsrc', 'hostile-source');
    const m = await start('kvd', src, join(base, 'e-kvd'));
    const file = join(base, 'e-kvd.snapshot.db');
    try {
      await ok('etcdctl', [`--endpoints=${src.client}`, 'put', 'k', 'v']);
      await ok('etcdctl', [`--endpoints=${src.client}`, 'snapshot', 'save', file]);
    } finally {
      await stop(m);
    }
    const good = await readFile(file);
    const flipped = Buffer.from(good);
    flipped[4096 * 3 + 100]! ^= 0x40; // a byte of a page, not the trailer
    // [what, bytes, etcd's words]: a cut that leaves no trailer-sized tail, a cut of a whole
    // page (the last 32 bytes of a page read as the trailer), a flipped byte.
    const cases: [string, Buffer, RegExp][] = [
      ['cut-tail', good.subarray(0, good.length - 100), /snapshot missing hash but --skip-hash-check=false/],
      ['cut-page', good.subarray(0, good.length - 4096), /expected sha256 \[/],
      ['flipped', flipped, /expected sha256 \[/],
    ];
    const err = (r: RunResult) => r.stderr.split('\n').filter((l) => l.startsWith('Error:'));
    const leftovers = (dir: string) => readdirSync(base).filter((n) => n === dir || n.startsWith(`.${dir}.restore-`));
    for (const [what, bytes, words] of cases) {
      const f = join(base, `e-${what}.db`);
      await writeFile(f, bytes);
      const dir = `e-out-${what}`;
      const k = await ctl('kvctl', ['snapshot', 'restore', f, `--data-dir=${join(base, dir)}`]);
      const e = await ctl('etcdctl', ['snapshot', 'restore', f, `--data-dir=${join(base, dir)}-etcd`]);
      expect({ what, code: k.code, err: err(k) }).toEqual({ what, code: e.code, err: err(e) });
      expect(k.code).not.toBe(0);
      expect(err(k)[0]).toMatch(words);
      expect(leftovers(dir)).toEqual([]);
    }
    // Past the hash check, the page cut off is still noticed (the metas point past the file's end).
    const s = await ctl('kvctl', [
      'snapshot',
      'restore',
      join(base, 'e-cut-page.db'),
      `--data-dir=${join(base, 'e-out-skip')}`,
      '--skip-hash-check',
    ]);
    expect(s.code).toBe(1);
    expect(err(s)[0]).toMatch(/not a bbolt database/);
    expect(leftovers('e-out-skip')).toEqual([]);
  }, 180_000);
});
