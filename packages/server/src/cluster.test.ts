// A three-member cluster in one process: raft over the real peer transport on loopback, WAL and
// snapshots on disk. Real-process cluster tests (SIGKILL, SIGSTOP) live in tools/.
import { etcdserverpb, raftpb } from '@kv/api';
import { credentials, Metadata } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig, type ServerConfig } from './config.js';
import { IdGenerator } from './idgen.js';
import { KvServer } from './server.js';
import { call, startTestServers, until } from './testutil/harness.js';

const b = (s: string) => Buffer.from(s);

describe('three-member cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kv-cluster-test-'));
  const names = ['n1', 'n2', 'n3'];
  const configs: ServerConfig[] = [];
  const servers: (KvServer | undefined)[] = [];
  const kv = (i: number) => new etcdserverpb.KVClient(`127.0.0.1:${servers[i]!.clientPorts[0]}`, credentials.createInsecure());
  const maint = (i: number) => new etcdserverpb.MaintenanceClient(`127.0.0.1:${servers[i]!.clientPorts[0]}`, credentials.createInsecure());

  beforeAll(async () => {
    const started = await startTestServers(names, (name, i, { clientUrl, peerUrl, initialCluster }) => {
      const config = resolveConfig({
        name,
        dataDir: join(dir, name),
        listenClientUrls: [clientUrl],
        advertiseClientUrls: [clientUrl],
        listenPeerUrls: [peerUrl],
        initialAdvertisePeerUrls: [peerUrl],
        initialCluster,
        initialClusterToken: 'test-cluster',
        snapshotCount: 50,
        snapshotCatchUpEntries: 10,
        unsafeNoFsync: true,
      });
      configs[i] = config;
      return config;
    });
    servers.push(...started);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s?.stop().catch(() => undefined)));
    rmSync(dir, { recursive: true, force: true });
  });

  const status = (i: number) => call<etcdserverpb.StatusRequest, etcdserverpb.StatusResponse>(maint(i), 'status', {});
  const leaderIndex = async () =>
    until('a leader', async () => {
      const live = servers.map((s, i) => (s ? i : -1)).filter((i) => i >= 0);
      const st = await Promise.all(live.map(status));
      const leader = st[0].leader;
      if (leader === 0n || !st.every((x) => x.leader === leader)) return undefined;
      return servers.findIndex((s) => s?.member.memberId === leader);
    });

  it('elects one leader that every member agrees on', async () => {
    const li = await leaderIndex();
    expect(li).toBeGreaterThanOrEqual(0);
  });

  it('replicates writes through any member, readable linearizably everywhere', async () => {
    for (let i = 0; i < 3; i++) {
      await until('put', () => call(kv(i), 'put', etcdserverpb.PutRequest.fromPartial({ key: b(`k${i}`), value: b(`v${i}`) })));
    }
    for (let i = 0; i < 3; i++) {
      const r = await call<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>(
        kv(i),
        'range',
        etcdserverpb.RangeRequest.fromPartial({ key: b('k'), rangeEnd: b('l') }),
      );
      expect(r.kvs.map((x) => x.value.toString())).toEqual(['v0', 'v1', 'v2']);
    }
  });

  it('retries a ReadIndex request the leader never got instead of waiting out the request timeout', async () => {
    const li = await leaderIndex();
    const fi = (li + 1) % 3;
    const leaderRaft = servers[li]!.member.raft;
    const follower = servers[fi]!.member.memberId;
    let dropped = 0;
    // The leader loses the follower's first ReadIndex request (as a dropped peer message would).
    const step = leaderRaft.step.bind(leaderRaft);
    leaderRaft.step = (msgs) =>
      step(
        msgs.filter((m) => {
          if (dropped > 0 || m.type !== raftpb.MessageType.MsgReadIndex || m.from !== follower) return true;
          dropped++;
          return false;
        }),
      );
    try {
      // A deadline well below the request timeout (7 s here): only a re-sent request answers in time.
      const r = await new Promise<etcdserverpb.RangeResponse>((resolve, reject) =>
        kv(fi).range(
          etcdserverpb.RangeRequest.fromPartial({ key: b('k0') }),
          new Metadata(),
          { deadline: Date.now() + 4_000 },
          (err, res) => (err || !res ? reject(err) : resolve(res)),
        ),
      );
      expect(dropped).toBe(1);
      expect(r.kvs.map((x) => x.value.toString())).toEqual(['v0']);
    } finally {
      delete (leaderRaft as { step?: unknown }).step; // back to the prototype's
    }
  });

  it('answers each proposal with its own result when two members use the same request id', async () => {
    const li = await leaderIndex();
    const fi = (li + 1) % 3;
    const members = [servers[li]!.member, servers[fi]!.member];
    // Request ids are unique per member only by etcd's scheme (16 bits of the member id); make
    // the two generators produce the very same ids.
    const now = Date.now() + 1_000;
    for (const m of members) (m as { ids: IdGenerator }).ids = new IdGenerator(0x77n, now);
    try {
      const put = (i: number, key: string) =>
        call<etcdserverpb.PutRequest, etcdserverpb.PutResponse>(
          kv(i),
          'put',
          etcdserverpb.PutRequest.fromPartial({ key: b(key), value: b(key) }),
        );
      const [a, c] = await Promise.all([put(li, 'same-id/leader'), put(fi, 'same-id/follower')]);
      const rev = async (key: string) =>
        (
          await call<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>(
            kv(li),
            'range',
            etcdserverpb.RangeRequest.fromPartial({ key: b(key) }),
          )
        ).kvs[0].modRevision;
      // Each put's answer carries the revision of its own write, not of the other member's.
      expect(a.header!.revision).toBe(await rev('same-id/leader'));
      expect(c.header!.revision).toBe(await rev('same-id/follower'));
    } finally {
      for (const m of members) (m as { ids: IdGenerator }).ids = new IdGenerator(m.memberId, Date.now() + 2_000);
    }
  });

  it('survives the loss of its leader, and the old leader catches up through a snapshot', async () => {
    const li = await leaderIndex();
    await servers[li]!.stop();
    servers[li] = undefined;
    const next = await leaderIndex();
    expect(next).not.toBe(li);
    // Enough writes to pass --snapshot-count (50) and compact the log behind the snapshot.
    for (let n = 0; n < 120; n++) await call(kv(next), 'put', etcdserverpb.PutRequest.fromPartial({ key: b(`s${n}`), value: b(`x${n}`) }));
    const logged: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push(line) });
    servers[li] = await KvServer.start({ config: configs[li], logger });
    await until('old leader caught up', async () => {
      const r = await call<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>(
        kv(li),
        'range',
        etcdserverpb.RangeRequest.fromPartial({ key: b('s119'), serializable: true }),
      );
      return r.kvs.length === 1 ? true : undefined;
    });
    expect(logged.some((l) => l.includes('installed snapshot'))).toBe(true);
  }, 60_000);

  it('ends with equal hashes on every member', async () => {
    const hashes = await until('equal hashes', async () => {
      const revs = await Promise.all([0, 1, 2].map(status));
      const rev = revs[0].header!.revision;
      if (!revs.every((s) => s.header!.revision === rev)) return undefined;
      return Promise.all(
        [0, 1, 2].map((i) => call<etcdserverpb.HashKVRequest, etcdserverpb.HashKVResponse>(maint(i), 'hashKv', { revision: rev })),
      );
    });
    expect(new Set(hashes.map((h) => h.hash)).size).toBe(1);
  });
});
