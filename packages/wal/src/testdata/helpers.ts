// Shared test helpers (not part of the build).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { raftpb } from '@kv/api';

const dirs: string[] = [];

export async function tempDir(prefix = 'kv-wal-'): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export async function removeTempDirs(): Promise<void> {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
}

/** Deterministic payload for entry `index` (sizes vary so records straddle sectors). */
export function payload(index: bigint, salt = ''): Buffer {
  const n = Number(index % 97n) * 3;
  return Buffer.from(`entry-${index}${salt}:${'x'.repeat(n)}`);
}

export function entry(index: bigint, term = 1n, salt = ''): raftpb.Entry {
  return { Term: term, Index: index, Type: raftpb.EntryType.EntryNormal, Data: payload(index, salt) };
}

export function entries(from: bigint, to: bigint, term = 1n, salt = ''): raftpb.Entry[] {
  const out: raftpb.Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term, salt));
  return out;
}

export function hs(term: bigint, vote: bigint, commit: bigint): raftpb.HardState {
  return { term, vote, commit };
}

/** A compact image of a list of entries, for fast equality checks (deep-equal on Buffers is slow). */
export function entriesImage(list: readonly raftpb.Entry[]): string {
  return Buffer.concat(list.map((e) => Buffer.from(raftpb.Entry.encode(e).finish()))).toString('base64');
}
