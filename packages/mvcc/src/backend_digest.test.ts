// The backend proves itself whole at open: damage that LevelDB recovers from silently (a flipped
// byte in its log drops the damaged stretch and goes on) is found by the integrity digest.
import { readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Backend } from './backend.js';
import { BackendCorruptError, Digest } from './backend_digest.js';
import { b, openStore, tempDirs } from './testdata/store_helpers.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

/** 500 write transactions (one commit each), a compaction, lease-bucket overwrites and deletes. */
async function history(dir: string): Promise<void> {
  const s = await openStore(dir);
  for (let i = 0; i < 500; i++) {
    await s.write((w) => w.put(b(`key-${String(i).padStart(4, '0')}`), Buffer.alloc(200, i % 251), 0n));
  }
  await s.write(async (w) => {
    await w.deleteRange(b('key-0000'), b('key-0010'));
  });
  const tx = s.backend.newBatch();
  s.store.compact(s.store.currentRev() - 100n, tx);
  tx.put('lease', b('l1'), b('one'));
  tx.put('lease', b('l2'), b('two'));
  await s.backend.commit(tx, { sync: false });
  const tx2 = s.backend.newBatch();
  tx2.put('lease', b('l1'), b('uno')); // replaces a record
  tx2.del('lease', b('l2'));
  tx2.del('lease', b('never-there'));
  await s.backend.commit(tx2, { sync: false });
  await s.store.compactionsSettled();
  await s.close();
}

async function newestLog(dir: string): Promise<string> {
  const logs = (await readdir(dir)).filter((n) => n.endsWith('.log')).sort();
  expect(logs.length).toBeGreaterThan(0);
  return join(dir, logs[logs.length - 1]);
}

describe('backend integrity digest', () => {
  it('Digest adds and removes records in any order', () => {
    const d1 = new Digest();
    const d2 = new Digest();
    d1.add(b('a'), b('1'));
    d1.add(b('b'), b('2'));
    d2.add(b('b'), b('2'));
    d2.add(b('a'), b('1'));
    expect(d1.equals(d2)).toBe(true);
    d1.add(b('c'), b('3'));
    d1.remove(b('c'), b('3'));
    expect(d1.equals(d2)).toBe(true);
    d1.remove(b('a'), b('1'));
    d1.add(b('a'), b('x'));
    expect(d1.equals(d2)).toBe(false);
    expect(Digest.decode(d2.encode())!.equals(d2)).toBe(true);
  });

  it('a backend that went through puts, deletes, compaction and overwrites reopens whole', async () => {
    const dir = await dirs.make();
    await history(dir);
    const s = await openStore(dir);
    expect((await s.store.rangeAt(b('key-'), b('key.'), s.store.currentRev(), s.store.compactRev(), {})).kvs.length).toBe(490);
    await s.close();
  });

  it('one flipped byte in the middle of LevelDB’s log: open refuses, naming the loss', async () => {
    const dir = await dirs.make();
    await history(dir);
    const log = await newestLog(dir);
    const buf = await readFile(log);
    expect(buf.length).toBeGreaterThan(64 * 1024);
    buf[Math.floor(buf.length / 3)] ^= 0x40;
    await writeFile(log, buf);
    const warnings: string[] = [];
    const err = await Backend.open(dir, { onWarning: (m) => warnings.push(m) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendCorruptError);
    expect(warnings.join('\n')).toMatch(/leveldb: .*dropping \d+ bytes/i);
    expect(String((err as Error).message)).toMatch(/integrity check failed: .* records are missing/);
    // And again on the next try: the refusal does not depend on LevelDB's log of the first open.
    const again = await Backend.open(dir).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(BackendCorruptError);
  });

  it('a log cut short (a torn tail, power loss) leaves a consistent prefix that opens', async () => {
    const dir = await dirs.make();
    await history(dir);
    const log = await newestLog(dir);
    const size = (await stat(log)).size;
    await truncate(log, Math.floor(size / 2) + 7);
    const s = await openStore(dir);
    const ci = s.store.consistentIndex();
    expect(ci).toBeGreaterThan(0n);
    expect(ci).toBeLessThan(500n);
    // Every write transaction up to the consistent index is there, none after it.
    const kvs = (await s.store.rangeAt(b('key-'), b('key.'), s.store.currentRev(), s.store.compactRev(), {})).kvs;
    expect(kvs.length).toBe(Number(ci));
    await s.close();
  });

  it('a backend with records but no digest is refused', async () => {
    const dir = await dirs.make();
    await history(dir);
    const be = await Backend.open(dir);
    // Forge the state of a backend whose newest batches are gone: remove the digest record only.
    const raw = (be as unknown as { db: { del: (k: Buffer) => Promise<void> } }).db;
    await raw.del(Buffer.concat([Buffer.from([0x02]), b('kv_digest')]));
    await be.close();
    await expect(Backend.open(dir)).rejects.toThrow(/no integrity digest/);
  });

  it('a snapshot stream carries the digest and the restored copy checks it', async () => {
    const dir = await dirs.make();
    await history(dir);
    const src = await Backend.open(dir);
    const chunks: Buffer[] = [];
    for await (const c of src.snapshotStream()) chunks.push(c);
    await src.close();
    const copy = join(await dirs.make(), 'db');
    const restored = await Backend.restoreFrom(copy, chunks);
    await restored.close();
    const s = await openStore(copy);
    expect(s.store.consistentIndex()).toBe(501n);
    await s.close();
  });
});
