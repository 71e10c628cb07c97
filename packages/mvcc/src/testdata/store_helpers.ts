// Test helpers for the core store tests (not part of the build).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '../backend.js';
import { KVStore, type KVStoreOptions, type LeaseBinding, type TxnWrite } from '../kvstore.js';

export const b = (s: string): Buffer => Buffer.from(s, 'latin1');
export const str = (x: Buffer | undefined): string | undefined => x?.toString('latin1');

/** A temp dir tracker: `make()` returns a fresh dir, `cleanup()` removes all. */
export function tempDirs(): { make: () => Promise<string>; cleanup: () => Promise<void> } {
  const dirs: string[] = [];
  return {
    async make() {
      const d = await mkdtemp(join(tmpdir(), 'kv-mvcc-'));
      dirs.push(d);
      return d;
    },
    async cleanup() {
      for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
    },
  };
}

export interface Opened {
  backend: Backend;
  store: KVStore;
  /** Runs fn in one write txn, commits and publishes it with the next consistent index. */
  write: (fn: (w: TxnWrite) => Promise<void> | void) => Promise<TxnWrite>;
  close: () => Promise<void>;
}

export async function openStore(dir: string, opts: KVStoreOptions = {}): Promise<Opened> {
  const backend = await Backend.open(dir);
  const store = await KVStore.open(backend, { compactionPauseMs: 0, ...opts });
  let ci = store.consistentIndex();
  return {
    backend,
    store,
    async write(fn) {
      const tx = backend.newBatch();
      const w = store.write(tx);
      try {
        await fn(w);
      } finally {
        // like an apply loop: a failed request still ends its (unchanged) txn and is applied
        w.end();
        ci += 1n;
        store.setConsistentIndex(tx, ci);
        await backend.commit(tx, { sync: false });
        store.publish(ci, [w]);
      }
      return w;
    },
    async close() {
      await store.close();
      await backend.close();
    },
  };
}

/** A lease table for tests: records attachments. */
export class FakeLeases implements LeaseBinding {
  readonly live = new Set<bigint>();
  readonly keys = new Map<bigint, Set<string>>();
  grant(id: bigint): void {
    this.live.add(id);
    this.keys.set(id, new Set());
  }
  exists(id: bigint): boolean {
    return this.live.has(id);
  }
  attach(id: bigint, key: Buffer): void {
    const s = this.keys.get(id);
    if (s === undefined) throw new Error('lease not found');
    s.add(key.toString('latin1'));
  }
  detach(id: bigint, key: Buffer): void {
    this.keys.get(id)?.delete(key.toString('latin1'));
  }
  keysOf(id: bigint): string[] {
    return [...(this.keys.get(id) ?? [])].sort();
  }
}
