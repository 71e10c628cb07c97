// The real @kv/wal on SimFs: seeded rounds of save / sync / crash / reopen.
import { raftpb } from '@kv/api';
import { SnapshotFiles, Wal, WalError } from '@kv/wal';
import { describe, expect, it } from 'vitest';
import { SimFs } from './sim_fs.js';
import { TestScheduler, seeded, track } from './test_helpers.js';

const DIR = '/m/wal';
const OPTS = { segmentBytes: 8192 };
const META = Buffer.from('sim-meta');

function entry(index: bigint, term: bigint, epoch: number): raftpb.Entry {
  const data = Buffer.from(`e${index}-t${term}-x${epoch}:${'z'.repeat(Number(index % 97n))}`);
  return raftpb.Entry.create({ Index: index, Term: term, Type: raftpb.EntryType.EntryNormal, Data: data });
}

async function freshDisk(seed: number): Promise<SimFs> {
  const fs = new SimFs({ random: seeded(seed) });
  await fs.mkdir('/m');
  await fs.fsyncDir('/');
  return fs;
}

interface RunReport {
  acked: number;
  repaired: number;
  crashes: number;
}

type Log = string[]; // entry data by index - 1

function dataOf(e: raftpb.Entry): string {
  return Buffer.from(e.Data).toString('latin1');
}

/**
 * One seed: appends in random batches (some synced, some not, some overwriting an unsynced
 * suffix as raft does), crashes or kills after a random number of microtask turns (so in the
 * middle of writes and syncs), reopens and checks that the log replayed is the log after some
 * prefix of the saves, plus a prefix of the entries of the next one (a torn batch), and that the
 * prefix holds every save acknowledged as synced (crash) or acknowledged at all (kill).
 */
async function runSeed(seed: number, rounds: number): Promise<{ fs: SimFs; report: RunReport }> {
  const rnd = seeded(seed ^ 0x5eed);
  const fs = await freshDisk(seed);
  let wal = await Wal.create(DIR, META, { ...OPTS, fs: fs.session() });
  let base: Log = [];
  const report: RunReport = { acked: 0, repaired: 0, crashes: 0 };
  for (let round = 0; round < rounds; round++) {
    // logs[k]: the log after the first k saves of this round.
    const logs: Log[] = [base];
    const saves: { from: number; data: string[]; sync: boolean; st: { done: boolean; failed: unknown } }[] = [];
    const ops = 1 + Math.floor(rnd.next() * 12);
    for (let i = 0; i < ops; i++) {
      const cur = logs[logs.length - 1]!;
      const n = 1 + Math.floor(rnd.next() * 6);
      let from = cur.length + 1;
      if (rnd.next() < 0.15 && cur.length > 0) from = 1 + Math.floor(rnd.next() * cur.length);
      const batch: raftpb.Entry[] = [];
      for (let k = 0; k < n; k++) batch.push(entry(BigInt(from + k), 1n, round * 100 + i));
      const sync = rnd.next() < 0.3;
      const p = wal.save({ term: 1n, vote: 1n, commit: 0n }, batch, { sync });
      saves.push({ from, data: batch.map(dataOf), sync, st: track(p) });
      logs.push([...cur.slice(0, from - 1), ...batch.map(dataOf)]);
      if (rnd.next() < 0.3) await p.catch(() => {});
    }
    const turns = Math.floor(rnd.next() * 300);
    for (let t = 0; t < turns; t++) await Promise.resolve();
    const crash = rnd.next() < 0.6;
    // Saves acknowledged before the crash: a synced one makes every earlier one durable.
    let minK = 0;
    saves.forEach((s, i) => {
      if (s.st.done) report.acked++;
      if (s.st.done && (s.sync || !crash)) minK = i + 1;
    });
    if (crash) {
      fs.crash();
      report.crashes++;
    } else {
      fs.kill();
    }
    await new Promise<void>((r) => setImmediate(r)); // the dead WAL's pending calls fail
    const r = await Wal.open(DIR, { index: 0n, term: 0n }, { ...OPTS, fs: fs.session() });
    if (r.repaired) report.repaired++;
    r.entries.forEach((e, i) => {
      expect(e.Index).toBe(BigInt(i + 1));
    }); // contiguous: nothing after a hole
    const got = r.entries.map(dataOf);
    let match = -1;
    for (let k = minK; k < logs.length && match < 0; k++) {
      if (equal(got, logs[k]!)) match = k;
      const next = saves[k];
      if (!next) continue;
      for (let j = 1; j < next.data.length && match < 0; j++) {
        if (equal(got, [...logs[k]!.slice(0, next.from - 1), ...next.data.slice(0, j)])) match = k;
      }
    }
    if (match < 0) {
      throw new Error(
        `seed ${seed} round ${round}: replayed ${got.length} entries match no prefix of the saves from ${minK} (of ${saves.length})`,
      );
    }
    await wal.close().catch(() => {});
    wal = r.wal;
    // What was replayed from the page cache after a kill is not all durable yet: sync it, as a
    // restarted member's first save does, before it is the base of the next round.
    await wal.sync();
    base = got;
  }
  await wal.close();
  return { fs, report };
}

function equal(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

describe('Wal on SimFs', () => {
  it('keeps every synced save over seeded crashes and kills; torn tails are repaired', async () => {
    let repaired = 0;
    let crashes = 0;
    let acked = 0;
    const tears = { whole: 0, byte: 0, sector: 0, zeroed: 0 };
    for (let seed = 1; seed <= 40; seed++) {
      const { fs, report } = await runSeed(seed, 12);
      repaired += report.repaired;
      crashes += report.crashes;
      acked += report.acked;
      for (const k of Object.keys(tears) as (keyof typeof tears)[]) tears[k] += fs.counters.tears[k];
    }
    console.log(`wal on SimFs: ${crashes} crashes, ${acked} acked saves, ${repaired} torn tails repaired, tears ${JSON.stringify(tears)}`);
    expect(crashes).toBeGreaterThan(100);
    expect(tears.byte + tears.sector + tears.zeroed).toBeGreaterThan(0);
    expect(repaired).toBeGreaterThan(0); // some crash tore a tail, and Wal.open repaired it
  }, 120_000);

  it('is deterministic: one seed, byte-identical durable state', async () => {
    const a = (await runSeed(7, 10)).fs.durableImage();
    const b = (await runSeed(7, 10)).fs.durableImage();
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [k, v] of a)
      expect(v === 'dir' ? v : Buffer.from(v).toString('hex')).toEqual(
        b.get(k) === 'dir' ? 'dir' : Buffer.from(b.get(k) as Buffer).toString('hex'),
      );
  });

  it('a failed fsync fails the save and poisons the WAL; the data is never acknowledged', async () => {
    const fs = await freshDisk(3);
    const wal = await Wal.create(DIR, META, { ...OPTS, fs: fs.session() });
    await wal.save({ term: 1n, vote: 1n, commit: 0n }, [entry(1n, 1n, 0)], { sync: true });
    fs.failFsync(1);
    await expect(wal.save(undefined, [entry(2n, 1n, 0)], { sync: true })).rejects.toMatchObject({ code: 'FAILED' });
    // fsyncgate: the next fsync would succeed without the data; the WAL must not try it.
    expect(fs.counters.failedSyncs).toBe(1);
    await expect(wal.save(undefined, [entry(3n, 1n, 0)], { sync: true })).rejects.toBeInstanceOf(WalError);
    await expect(wal.sync()).rejects.toMatchObject({ code: 'FAILED' });
    await wal.close();
    fs.crash();
    const r = await Wal.open(DIR, { index: 0n, term: 0n }, { ...OPTS, fs: fs.session() });
    expect(r.entries.map((e) => e.Index)).toEqual([1n]);
    await r.wal.close();
  });

  it('a write refused for lack of space waits and goes through when space returns', async () => {
    const fs = await freshDisk(4);
    const sleeps: number[] = [];
    let release: () => void = () => {};
    const sleep = (ms: number): Promise<void> => {
      sleeps.push(ms);
      if (sleeps.length === 3) fs.setCapacity(Number.POSITIVE_INFINITY);
      return new Promise<void>((r) => {
        release = r;
        setImmediate(r);
      });
    };
    const wal = await Wal.create(DIR, META, { segmentBytes: 8192, preallocate: false, fs: fs.session(), sleep });
    fs.setCapacity((await fs.stat(`${DIR}/${wal.segmentFiles()[0]}`)).size + 10);
    const big = raftpb.Entry.create({ Index: 1n, Term: 1n, Data: Buffer.alloc(2000, 7) });
    await wal.save({ term: 1n, vote: 0n, commit: 0n }, [big], { sync: true });
    release();
    expect(sleeps.length).toBeGreaterThanOrEqual(3);
    expect(wal.stats().noSpaceWaits).toBe(1);
    await wal.close();
    fs.crash();
    const r = await Wal.open(DIR, { index: 0n, term: 0n }, { segmentBytes: 8192, preallocate: false, fs: fs.session() });
    expect(r.entries.map((e) => e.Index)).toEqual([1n]);
    await r.wal.close();
  });

  it("the server's snapshot order (file, marker, release, purge of WAL and snapshot files) survives a crash at any point", async () => {
    let snapshotsTaken = 0;
    let openedAtSnapshot = 0;
    for (let seed = 1; seed <= 25; seed++) {
      const rnd = seeded(seed * 31);
      const fs = await freshDisk(seed + 500);
      let wal = await Wal.create(DIR, META, { ...OPTS, fs: fs.session() });
      let snaps = await SnapshotFiles.open('/m/snap', { fs: fs.session() });
      let last = 0n;
      let durable = 0n;
      for (let round = 0; round < 8; round++) {
        const work = (async () => {
          for (let i = 0; i < 6; i++) {
            const batch: raftpb.Entry[] = [];
            for (let k = 0; k < 4; k++) batch.push(entry(last + 1n + BigInt(k), 1n, round));
            last += 4n;
            const upTo = last;
            await wal.save({ term: 1n, vote: 1n, commit: last }, batch, { sync: true });
            durable = upTo;
            if (rnd.next() < 0.3) {
              const index = durable - BigInt(Math.floor(rnd.next() * 3));
              await snaps.save(
                raftpb.Snapshot.create({ data: Buffer.from(`state@${index}`), metadata: { index, term: 1n, confState: { voters: [1n] } } }),
              );
              await wal.saveSnapshot({ index, term: 1n });
              await wal.release(index);
              await wal.purge(2);
              await snaps.purge(2);
              snapshotsTaken++;
            }
          }
        })();
        work.catch(() => {});
        const turns = Math.floor(rnd.next() * 400);
        for (let t = 0; t < turns; t++) await Promise.resolve();
        const mustHave = durable;
        fs.crash();
        await work.catch(() => {});
        // The server's way: the newest snapshot with a marker, then the WAL at it.
        const valid = await Wal.validSnapshots(DIR, fs.session());
        snaps = await SnapshotFiles.open('/m/snap', { fs: fs.session() });
        const snap = await snaps.loadNewest((p) => valid.some((v) => v.index === p.index && v.term === p.term));
        const pos = snap ? { index: snap.metadata!.index, term: snap.metadata!.term } : { index: 0n, term: 0n };
        if (snap) {
          openedAtSnapshot++;
          expect(Buffer.from(snap.data).toString()).toBe(`state@${pos.index}`);
        }
        const r = await Wal.open(DIR, pos, { ...OPTS, fs: fs.session() });
        r.entries.forEach((e, i) => {
          expect(e.Index).toBe(pos.index + BigInt(i + 1));
        });
        const got = r.entries.length > 0 ? r.entries[r.entries.length - 1]!.Index : pos.index;
        expect(got).toBeGreaterThanOrEqual(mustHave);
        wal = r.wal;
        last = got;
        durable = got;
      }
      await wal.close();
    }
    expect(snapshotsTaken).toBeGreaterThan(10);
    expect(openedAtSnapshot).toBeGreaterThan(10);
  }, 60_000);

  it('runs on a scheduler with latency, and a crash at any virtual time loses nothing synced', async () => {
    for (let seed = 1; seed <= 15; seed++) {
      const rnd = seeded(seed);
      const sched = new TestScheduler();
      const fs = new SimFs({
        random: seeded(seed + 1000),
        schedule: sched.schedule,
        latency: (op) => (op === 'fsync' || op === 'fdatasync' ? 5 : 1),
      });
      const mk = fs.mkdir('/m').then(() => fs.fsyncDir('/'));
      await sched.run(() => false);
      await mk;
      const create = track(Wal.create(DIR, META, { ...OPTS, fs: fs.session() }).then((w) => void (walBox.w = w)));
      const walBox: { w?: Wal } = {};
      await sched.run(() => create.done);
      expect(create.failed).toBeUndefined();
      const wal = walBox.w!;
      const saves: { st: { done: boolean; failed: unknown }; index: bigint; sync: boolean }[] = [];
      for (let i = 1n; i <= 30n; i++) {
        const sync = rnd.next() < 0.4;
        saves.push({ st: track(wal.save({ term: 1n, vote: 1n, commit: 0n }, [entry(i, 1n, 0)], { sync })), index: i, sync });
      }
      const crashAt = 1 + Math.floor(rnd.next() * 60);
      await sched.run(() => sched.now >= crashAt);
      let durable = 0n;
      for (const s of saves) if (s.st.done && s.sync) durable = s.index;
      fs.crash();
      await sched.run();
      const opened = track(
        Wal.open(DIR, { index: 0n, term: 0n }, { ...OPTS, fs: fs.session() }).then((r) => {
          box.r = r;
        }),
      );
      const box: { r?: Awaited<ReturnType<typeof Wal.open>> } = {};
      await sched.run(() => opened.done || opened.failed !== undefined);
      expect(opened.failed).toBeUndefined();
      const r = box.r!;
      const got = r.entries.length > 0 ? r.entries[r.entries.length - 1]!.Index : 0n;
      expect(got).toBeGreaterThanOrEqual(durable);
      r.entries.forEach((e, i) => {
        expect(e.Index).toBe(BigInt(i + 1));
      });
      const closed = track(r.wal.close());
      await sched.run(() => closed.done);
    }
  }, 60_000);
});
