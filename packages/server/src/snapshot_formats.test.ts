// The two snapshot formats a member handles — the backend's snapshot stream (@kv/mvcc: Snapshot
// RPC, peer snapshot transfer) and the raft snapshot file (@kv/wal: member/snap/*.snap) — start
// with distinct magics, so each reader refuses the other's bytes with an error that says so.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { raftpb } from '@kv/api';
import { Backend } from '@kv/mvcc';
import { decodeSnapshotFile, encodeSnapshotFile } from '@kv/wal';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'kv-snapfmt-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function backendStream(): Promise<Buffer> {
  const be = await Backend.open(join(await tempDir(), 'db'));
  try {
    const parts: Buffer[] = [];
    for await (const p of be.snapshotStream()) parts.push(p);
    return Buffer.concat(parts);
  } finally {
    await be.close();
  }
}

function raftSnapshotFile(): Buffer {
  return encodeSnapshotFile(
    raftpb.Snapshot.fromPartial({
      data: Buffer.from('state'),
      metadata: { index: 7n, term: 2n, confState: { voters: [1n] } },
    }),
  );
}

describe('snapshot formats', () => {
  it('the two formats start with different magics', async () => {
    const stream = await backendStream();
    const file = raftSnapshotFile();
    expect(stream.subarray(0, 8).toString('latin1')).toBe('KVBKND\x00\x01');
    expect(file.subarray(0, 8).toString('latin1')).toBe('KVSNAP\x00\x01');
  });

  it('the raft snapshot file reader refuses a backend snapshot stream', async () => {
    const stream = await backendStream();
    expect(() => decodeSnapshotFile(stream, 'x.snap')).toThrow(/not a raft snapshot file .*"KVBKND\\x00\\x01", want "KVSNAP\\x00\\x01"/);
  });

  it('the backend reader refuses a raft snapshot file', async () => {
    const file = raftSnapshotFile();
    await expect(Backend.restoreFrom(join(await tempDir(), 'db'), [file])).rejects.toThrow(
      /not a backend snapshot stream \(magic "KVSNAP\\x00\\x01", want "KVBKND\\x00\\x01"\)/,
    );
  });

  it('each format still reads its own bytes', async () => {
    const stream = await backendStream();
    const be = await Backend.restoreFrom(join(await tempDir(), 'db'), [stream]);
    await be.close();
    expect(decodeSnapshotFile(raftSnapshotFile(), 'x.snap').metadata?.index).toBe(7n);
  });
});
