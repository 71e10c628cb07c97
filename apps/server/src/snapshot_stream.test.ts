// Snapshot RPC streams are bounded by HTTP/2 flow control: clients that open a Snapshot stream and
// never read it hold a few windows of data each on the server, not a copy of the backend, and a
// cancelled stream releases its backend snapshot. The stream is etcd 3.4's: a bbolt database in
// 32 KiB blobs, then its sha256, which etcdctl snapshot save and status take.
import { etcdserverpb } from '@kv/api';
import { Client, Op } from '@kv/client';
import { snapshotStatus } from '@kv/server';
import { ETCDCTL_BIN, startServer, type RunningServer } from '@kv/testkit';
import { connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MiB = 1024 * 1024;

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not in time`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** A gRPC Snapshot call over a raw HTTP/2 session that never reads what it is sent. */
function stalledSnapshot(port: number): { session: ClientHttp2Session; stream: ClientHttp2Stream; started: Promise<void> } {
  const session = connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  const stream = session.request({
    ':method': 'POST',
    ':path': '/etcdserverpb.Maintenance/Snapshot',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  stream.on('error', () => {});
  const started = new Promise<void>((resolve) => stream.once('response', () => resolve()));
  stream.pause();
  // One gRPC message: not compressed, length 0 (an empty SnapshotRequest).
  stream.end(Buffer.from([0, 0, 0, 0, 0]));
  return { session, stream, started };
}

/** Every SnapshotResponse of one Snapshot call, read over a raw HTTP/2 session. */
async function fullSnapshot(port: number): Promise<etcdserverpb.SnapshotResponse[]> {
  const session = connect(`http://127.0.0.1:${port}`);
  try {
    const stream = session.request({
      ':method': 'POST',
      ':path': '/etcdserverpb.Maintenance/Snapshot',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
    const parts: Buffer[] = [];
    for await (const c of stream) parts.push(c as Buffer);
    const body = Buffer.concat(parts);
    const out: etcdserverpb.SnapshotResponse[] = [];
    for (let off = 0; off < body.length; ) {
      const n = body.readUInt32BE(off + 1);
      out.push(etcdserverpb.SnapshotResponse.decode(body.subarray(off + 5, off + 5 + n)));
      off += 5 + n;
    }
    return out;
  } finally {
    session.destroy();
  }
}

describe('Snapshot streams', () => {
  let server: RunningServer;
  let client: Client;

  beforeAll(async () => {
    server = await startServer('kvd', { name: 'snap', extraArgs: ['--unsafe-no-fsync'] });
    client = new Client({ endpoints: [server.endpoint] });
    // About 16 MiB of values, in txns of 128 puts of 1 KiB each (fast: 128 proposals).
    const value = Buffer.alloc(1024, 'v');
    const batches = Array.from({ length: 128 }, (_, b) => b);
    for (let i = 0; i < batches.length; i += 8) {
      await Promise.all(
        batches.slice(i, i + 8).map((b) => {
          const ops = Array.from({ length: 128 }, (_, k) => Op.put(`k/${b}/${k}`, value));
          return client
            .txn()
            .then(...ops)
            .commit();
        }),
      );
    }
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  it('holds bounded memory for stalled streams and releases their backend snapshots on cancel', async () => {
    const base = rssBytes(server.pid);
    // Before streams were bounded, each of these held a full copy of the backend (RSS grew by
    // about 10 x 16 MiB and more); now each holds a few flow-control windows.
    const stalled = Array.from({ length: 10 }, () => stalledSnapshot(server.clientPort));
    // The response headers go out with the first message: every stream has started sending.
    await Promise.all(stalled.map((s) => s.started));
    await new Promise((r) => setTimeout(r, 1500)); // let any buffering happen
    const grown = rssBytes(server.pid) - base;
    expect(grown).toBeLessThan(100 * MiB);
    const before = server.log().length;
    for (const s of stalled) s.session.destroy();
    // Every cancelled stream closed its backend snapshot reader.
    await until('snapshot readers released', async () =>
      /"open-snapshot-streams":0[,}].*released its backend snapshot/.test(server.log().slice(Math.max(0, before - 2000)))
        ? true
        : undefined,
    );
    expect((await client.get('k/0/0')).kvs[0]?.value.length).toBe(1024);
  }, 60_000);

  it('sends 32 KiB blobs with remaining bytes, then the sha256 of the data (etcd 3.4 shape)', async () => {
    const msgs = await fullSnapshot(server.clientPort);
    const last = msgs.pop()!;
    const data = Buffer.concat(msgs.map((x) => x.blob));
    expect(Buffer.from(last.blob)).toEqual(createHash('sha256').update(data).digest());
    expect(last.remainingBytes).toBe(0n);
    let left = data.length;
    for (const x of msgs) {
      expect(x.blob.length).toBeLessThanOrEqual(32 * 1024);
      left -= x.blob.length;
      expect(x.remainingBytes).toBe(BigInt(left));
    }
    // etcdctl's check: a whole number of 512-byte sectors, then 32 bytes of hash.
    expect((data.length + last.blob.length) % 512).toBe(32);
    // A bbolt file: meta page 0 has bbolt's magic and version 2 after the page header, and its
    // page size divides the file.
    expect(data.readUInt32LE(16)).toBe(0xed0cdaed);
    expect(data.readUInt32LE(20)).toBe(2);
    expect(data.length % data.readUInt32LE(24)).toBe(0);
    // What snapshot status reads of it: the server's revision, every record of the key space.
    const dir = mkdtempSync(join(tmpdir(), 'kv-snap-stream-'));
    try {
      const file = join(dir, 's.db');
      writeFileSync(file, Buffer.concat([data, Buffer.from(last.blob)]));
      const st = await snapshotStatus(file);
      const rev = (await client.get('k/0/0')).header?.revision;
      expect(st.revision).toBe(rev);
      expect(st.totalKey).toBeGreaterThan(128 * 128);
      expect(st.totalSize).toBe(data.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it.skipIf(!existsSync(ETCDCTL_BIN))(
    'etcdctl snapshot save verifies the stream',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'kv-snap-save-'));
      try {
        const out = execFileSync(
          ETCDCTL_BIN,
          ['--endpoints', server.endpoint, '--command-timeout', '30s', 'snapshot', 'save', join(dir, 's.db')],
          {
            env: { PATH: process.env.PATH ?? '', ETCDCTL_API: '3' },
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        ).toString();
        expect(out).toMatch(/Snapshot saved at/);
        expect(statSync(join(dir, 's.db')).size % 512).toBe(32);
        const status = JSON.parse(
          execFileSync(ETCDCTL_BIN, ['snapshot', 'status', join(dir, 's.db'), '-w', 'json'], {
            env: { PATH: process.env.PATH ?? '', ETCDCTL_API: '3' },
          }).toString(),
        ) as { revision: number; totalKey: number };
        expect(status.revision).toBe(1 + 128); // one revision per txn of 128 puts
        expect(status.totalKey).toBeGreaterThan(128 * 128);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
