// Embedding (embed.ts): one member and a local cluster of three inside the test process, through
// the same code docs/server.md shows ("Embedding a member"), plus what the example leaves out:
// the actual URLs, a restart on a kept data dir, the temporary data dir removed by stop().
import { etcdserverpb } from '@kv/api';
import { credentials } from '@grpc/grpc-js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './config.js';
import { startMember } from './embed.js';
import { oneMember, threeMembers } from './examples/embed_example.js';
import { call } from './testutil/harness.js';

describe('embedding a member', () => {
  it("runs docs/server.md's example verbatim: one member, then a cluster of three", async () => {
    const doc = readFileSync(new URL('../../../docs/server.md', import.meta.url), 'utf8');
    const example = readFileSync(new URL('./examples/embed_example.ts', import.meta.url), 'utf8');
    // The page shows the file as a user writes it: importing the package by its name.
    expect(doc).toContain(example.replace("from '../index.js'", "from '@kv/server'"));
    expect(await oneMember()).toBe('hello');
    const r = await threeMembers();
    expect(['m1', 'm2', 'm3']).toContain(r.leader);
    expect(r.values).toEqual(['seen by all', 'seen by all', 'seen by all']);
  }, 60_000);

  it('reports its URLs and ids, keeps a given data dir across restarts, removes its own', async () => {
    const own = await startMember({ name: 'tmp' });
    await own.ready;
    expect(own.clientUrls[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(own.endpoints[0]).toBe(own.clientUrls[0]!.slice('http://'.length));
    expect(own.memberId).toBe(own.server.member.memberId);
    expect(existsSync(own.dataDir)).toBe(true);
    await own.stop();
    await own.stop(); // idempotent
    expect(existsSync(own.dataDir)).toBe(false);

    const dataDir = await mkdtemp(join(tmpdir(), 'kv-embed-kept-'));
    try {
      const first = await startMember({ name: 'kept', dataDir, unsafeNoFsync: true });
      await first.ready;
      const kv = new etcdserverpb.KVClient(first.endpoints[0]!, credentials.createInsecure());
      await call(kv, 'put', etcdserverpb.PutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from('v1') }));
      kv.close();
      await first.stop();
      expect(existsSync(dataDir)).toBe(true);

      const second = await startMember({ name: 'kept', dataDir, unsafeNoFsync: true });
      await second.ready;
      expect(second.memberId).toBe(first.memberId);
      const kv2 = new etcdserverpb.KVClient(second.endpoints[0]!, credentials.createInsecure());
      const r = await call<object, etcdserverpb.RangeResponse>(
        kv2,
        'range',
        etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from('k') }),
      );
      expect(r.kvs[0]!.value.toString()).toBe('v1');
      kv2.close();
      await second.stop();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('refuses a bad option with ConfigError and leaves no temporary data dir', async () => {
    const temps = () => readdirSync(tmpdir()).filter((n) => n.startsWith('kv-embed-') && !n.startsWith('kv-embed-kept-'));
    const before = temps();
    const err = await startMember({ heartbeatIntervalMs: 500, electionTimeoutMs: 1000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(String((err as Error).message)).toMatch(/at least as 5 times/);
    expect(temps()).toEqual(before);
  });
});
