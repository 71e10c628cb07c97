import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentials, Server, ServerCredentials, status, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import {
  authpb,
  etcdErrorName,
  ErrorCode,
  ErrorText,
  etcdserverpb,
  mvccpb,
  raftpb,
  v3electionpb,
  v3lockpb,
  type EtcdErrorName,
} from './index.js';

const hex = (u: Uint8Array): string => Buffer.from(u).toString('hex');
const b = (s: string): Buffer => Buffer.from(s);

/** A typical etcd lease ID: above 2^53, so it only survives as a bigint. */
const BIG_LEASE = 7587869837426413569n;
const U64_MAX = 0xffff_ffff_ffff_ffffn;

describe('wire format matches etcd field numbers', () => {
  it('PutRequest{key:"a"} is 0a 01 61', () => {
    const bytes = etcdserverpb.PutRequest.encode(etcdserverpb.PutRequest.fromPartial({ key: b('a') })).finish();
    expect(hex(bytes)).toBe('0a0161');
  });

  it('PutRequest fields 1..6 in order', () => {
    const bytes = etcdserverpb.PutRequest.encode(
      etcdserverpb.PutRequest.fromPartial({
        key: b('a'),
        value: b('b'),
        lease: 1n,
        prevKv: true,
        ignoreValue: true,
        ignoreLease: true,
      }),
    ).finish();
    expect(hex(bytes)).toBe('0a0161' + '120162' + '1801' + '2001' + '2801' + '3001');
  });

  it('RangeRequest: limit is field 3, revision is field 4 (varints), sort enums 5/6', () => {
    const bytes = etcdserverpb.RangeRequest.encode(
      etcdserverpb.RangeRequest.fromPartial({
        limit: 10n,
        revision: 300n,
        sortOrder: etcdserverpb.RangeRequest_SortOrder.DESCEND,
        sortTarget: etcdserverpb.RangeRequest_SortTarget.MOD,
      }),
    ).finish();
    // 0x18 = field 3 varint; 0x20 = field 4 varint (300 = ac 02); 0x28 = 5; 0x30 = 6
    expect(hex(bytes)).toBe('180a' + '20ac02' + '2802' + '3003');
  });

  it('RangeRequest high-numbered fields 10..13', () => {
    const bytes = etcdserverpb.RangeRequest.encode(
      etcdserverpb.RangeRequest.fromPartial({
        minModRevision: 1n,
        maxModRevision: 2n,
        minCreateRevision: 3n,
        maxCreateRevision: 4n,
      }),
    ).finish();
    expect(hex(bytes)).toBe('5001' + '5802' + '6003' + '6804');
  });

  it('WatchCreateRequest.prev_kv is field 6, watch_id 7, fragment 8, filters 5 packed', () => {
    const bytes = etcdserverpb.WatchCreateRequest.encode(
      etcdserverpb.WatchCreateRequest.fromPartial({
        filters: [etcdserverpb.WatchCreateRequest_FilterType.NODELETE],
        prevKv: true,
        watchId: 7n,
        fragment: true,
      }),
    ).finish();
    expect(hex(bytes)).toBe('2a0101' + '3001' + '3807' + '4001');
  });

  it('WatchRequest oneof arms are fields 1/2/3; empty progress request is 1a 00', () => {
    const progress = etcdserverpb.WatchRequest.encode({ progressRequest: {} }).finish();
    expect(hex(progress)).toBe('1a00');
    const cancel = etcdserverpb.WatchRequest.encode({ cancelRequest: { watchId: 5n } }).finish();
    expect(hex(cancel)).toBe('12020805');
  });

  it('WatchResponse.events is field 11', () => {
    const bytes = etcdserverpb.WatchResponse.encode(
      etcdserverpb.WatchResponse.fromPartial({ events: [{ type: mvccpb.Event_EventType.DELETE }] }),
    ).finish();
    expect(hex(bytes)).toBe('5a020801');
  });

  it('Compare.range_end is field 64 and target_union arms are 4..8', () => {
    const bytes = etcdserverpb.Compare.encode(etcdserverpb.Compare.fromPartial({ modRevision: 2n, rangeEnd: b('z') })).finish();
    // field 6 varint = 0x30; field 64 bytes = tag (64<<3|2 = 0x202) varint 82 04
    expect(hex(bytes)).toBe('3002' + '8204017a');
  });

  it('negative int64 is a 10-byte two’s complement varint (Go compatible)', () => {
    const bytes = etcdserverpb.LeaseGrantResponse.encode(etcdserverpb.LeaseGrantResponse.fromPartial({ TTL: -1n })).finish();
    expect(hex(bytes)).toBe('18ffffffffffffffffff01');
  });

  it('InternalRaftRequest.header is field 100, auth_enable 1000', () => {
    const bytes = etcdserverpb.InternalRaftRequest.encode(
      etcdserverpb.InternalRaftRequest.fromPartial({ header: { ID: 1n }, authEnable: {} }),
    ).finish();
    // 100<<3|2 = 802 -> a2 06; 1000<<3|2 = 8002 -> c2 3e
    expect(hex(bytes)).toBe('a206020801' + 'c23e00');
  });

  it('raftpb.ConfState repeated uint64 stays unpacked like etcd (proto2)', () => {
    const bytes = raftpb.ConfState.encode(raftpb.ConfState.fromPartial({ voters: [1n, 2n], autoLeave: true })).finish();
    expect(hex(bytes)).toBe('0801' + '0802' + '2801');
    // and packed input (what a proto3 writer would produce) still decodes
    expect(raftpb.ConfState.decode(Buffer.from('0a020102', 'hex')).voters).toEqual([1n, 2n]);
  });

  it('raftpb.Entry: Type is field 1, Term 2, Index 3, Data 4', () => {
    const bytes = raftpb.Entry.encode(
      raftpb.Entry.fromPartial({ Type: raftpb.EntryType.EntryConfChange, Term: 2n, Index: 3n, Data: b('x') }),
    ).finish();
    expect(hex(bytes)).toBe('1002' + '1803' + '0801' + '220178');
  });
});

describe('round trips', () => {
  it('PutRequest with a lease above 2^53', () => {
    const msg = etcdserverpb.PutRequest.fromPartial({ key: b('k'), value: b('v'), lease: BIG_LEASE, prevKv: true });
    const out = etcdserverpb.PutRequest.decode(etcdserverpb.PutRequest.encode(msg).finish());
    expect(out).toEqual(msg);
    expect(out.lease).toBe(BIG_LEASE);
    expect(Buffer.isBuffer(out.key)).toBe(true);
  });

  it('ResponseHeader uint64 max', () => {
    const msg = etcdserverpb.ResponseHeader.fromPartial({ clusterId: U64_MAX, memberId: 1n, revision: 5n, raftTerm: 2n });
    expect(etcdserverpb.ResponseHeader.decode(etcdserverpb.ResponseHeader.encode(msg).finish())).toEqual(msg);
  });

  it('RangeRequest with sort enums', () => {
    const msg = etcdserverpb.RangeRequest.fromPartial({
      key: b('a'),
      rangeEnd: b('b'),
      sortOrder: etcdserverpb.RangeRequest_SortOrder.ASCEND,
      sortTarget: etcdserverpb.RangeRequest_SortTarget.VALUE,
      serializable: true,
      keysOnly: true,
    });
    const out = etcdserverpb.RangeRequest.decode(etcdserverpb.RangeRequest.encode(msg).finish());
    expect(out).toEqual(msg);
    expect(out.sortTarget).toBe(etcdserverpb.RangeRequest_SortTarget.VALUE);
  });

  it('TxnRequest with nested RequestOp oneofs and Compare target_union', () => {
    const msg = etcdserverpb.TxnRequest.fromPartial({
      compare: [
        {
          result: etcdserverpb.Compare_CompareResult.EQUAL,
          target: etcdserverpb.Compare_CompareTarget.VALUE,
          key: b('k'),
          value: b('v'),
        },
        {
          result: etcdserverpb.Compare_CompareResult.LESS,
          target: etcdserverpb.Compare_CompareTarget.CREATE,
          key: b('k'),
          createRevision: 0n,
        },
      ],
      success: [
        { requestPut: { key: b('k'), value: b('v2'), lease: BIG_LEASE } },
        { requestTxn: { success: [{ requestDeleteRange: { key: b('a'), rangeEnd: b('z'), prevKv: true } }] } },
      ],
      failure: [{ requestRange: { key: b('k') } }],
    });
    const out = etcdserverpb.TxnRequest.decode(etcdserverpb.TxnRequest.encode(msg).finish());
    expect(out).toEqual(msg);
    // a oneof arm set to its zero value is still present on the wire
    expect(out.compare[1]?.createRevision).toBe(0n);
    expect(out.success[1]?.requestTxn?.success[0]?.requestDeleteRange?.rangeEnd).toEqual(b('z'));
  });

  it('WatchRequest create / cancel / progress', () => {
    const cases: etcdserverpb.WatchRequest[] = [
      {
        createRequest: etcdserverpb.WatchCreateRequest.fromPartial({
          key: b('a'),
          rangeEnd: b('b'),
          startRevision: 10n,
          progressNotify: true,
          filters: [etcdserverpb.WatchCreateRequest_FilterType.NOPUT],
          prevKv: true,
          watchId: 3n,
        }),
      },
      { cancelRequest: { watchId: 3n } },
      { progressRequest: {} },
    ];
    for (const msg of cases) {
      expect(etcdserverpb.WatchRequest.decode(etcdserverpb.WatchRequest.encode(msg).finish())).toEqual(msg);
    }
  });

  it('WatchResponse with events', () => {
    const msg = etcdserverpb.WatchResponse.fromPartial({
      header: { revision: 9n },
      watchId: 1n,
      events: [
        { type: mvccpb.Event_EventType.PUT, kv: { key: b('a'), value: b('1'), createRevision: 9n, modRevision: 9n, version: 1n } },
        { type: mvccpb.Event_EventType.DELETE, kv: { key: b('b'), modRevision: 9n }, prevKv: { key: b('b'), value: b('2') } },
      ],
    });
    expect(etcdserverpb.WatchResponse.decode(etcdserverpb.WatchResponse.encode(msg).finish())).toEqual(msg);
  });

  it('unrecognized enum values survive decoding', () => {
    const out = etcdserverpb.RangeRequest.decode(Buffer.from('2863', 'hex')); // sort_order = 99
    expect(out.sortOrder as number).toBe(99);
  });

  it('authpb, v3lockpb, v3electionpb, raftpb messages', () => {
    const role = authpb.Role.fromPartial({
      name: b('r'),
      keyPermission: [{ permType: authpb.Permission_Type.READWRITE, key: b('a'), rangeEnd: b('b') }],
    });
    expect(authpb.Role.decode(authpb.Role.encode(role).finish())).toEqual(role);
    const lock = v3lockpb.LockResponse.fromPartial({ header: { revision: 3n }, key: b('lock/1') });
    expect(v3lockpb.LockResponse.decode(v3lockpb.LockResponse.encode(lock).finish())).toEqual(lock);
    const camp = v3electionpb.CampaignResponse.fromPartial({ leader: { name: b('e'), key: b('e/1'), rev: 4n, lease: BIG_LEASE } });
    expect(v3electionpb.CampaignResponse.decode(v3electionpb.CampaignResponse.encode(camp).finish())).toEqual(camp);
    const m = raftpb.Message.fromPartial({
      type: raftpb.MessageType.MsgApp,
      to: 2n,
      from: 1n,
      term: 3n,
      entries: [{ Term: 3n, Index: 7n, Data: b('x') }],
      snapshot: { metadata: { confState: { voters: [1n, 2n, 3n] }, index: 5n, term: 2n } },
    });
    expect(raftpb.Message.decode(raftpb.Message.encode(m).finish())).toEqual(m);
  });
});

describe('cross-check against buf (Go protobuf runtime)', () => {
  const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
  const bufBin = join(pkgDir, 'node_modules/.bin/buf');
  const protoDir = join(pkgDir, '../../proto');
  const convert = (type: string, input: Uint8Array | string, from: string, to: string): Buffer =>
    execFileSync(bufBin, ['convert', protoDir, '--type', type, '--from', `-#format=${from}`, '--to', `-#format=${to}`], {
      input,
    });

  it.skipIf(!existsSync(bufBin))('TxnRequest bytes decode identically in Go, and Go bytes decode here', () => {
    const msg = etcdserverpb.TxnRequest.fromPartial({
      compare: [{ result: 3, target: 4, key: b('k'), lease: -1n, rangeEnd: b('z') }],
      success: [{ requestPut: { key: b('a'), value: b('v'), lease: BIG_LEASE } }],
      failure: [{ requestRange: { key: b('a'), sortOrder: 2, sortTarget: 3, revision: 9n } }],
    });
    const json = JSON.parse(convert('etcdserverpb.TxnRequest', etcdserverpb.TxnRequest.encode(msg).finish(), 'binpb', 'json').toString());
    expect(json).toEqual(etcdserverpb.TxnRequest.toJSON(msg));
    const goBytes = convert('etcdserverpb.TxnRequest', JSON.stringify(json), 'json', 'binpb');
    expect(etcdserverpb.TxnRequest.decode(goBytes)).toEqual(msg);
  });

  it.skipIf(!existsSync(bufBin))('WatchCreateRequest and StatusResponse agree with Go', () => {
    const w = etcdserverpb.WatchRequest.fromPartial({
      createRequest: { key: b('a'), rangeEnd: b('\0'), startRevision: 5n, filters: [1], prevKv: true, watchId: 2n, fragment: true },
    });
    const wjson = JSON.parse(
      convert('etcdserverpb.WatchRequest', etcdserverpb.WatchRequest.encode(w).finish(), 'binpb', 'json').toString(),
    );
    expect(wjson).toEqual(etcdserverpb.WatchRequest.toJSON(w));
    const s = etcdserverpb.StatusResponse.fromPartial({
      header: { clusterId: U64_MAX, memberId: 1n },
      version: '3.5.0',
      dbSize: 4096n,
      leader: 1n,
      raftIndex: 10n,
      errors: ['NOSPACE'],
      isLearner: true,
      storageVersion: '3.6.0',
    });
    const sjson = JSON.parse(
      convert('etcdserverpb.StatusResponse', etcdserverpb.StatusResponse.encode(s).finish(), 'binpb', 'json').toString(),
    );
    expect(sjson).toEqual(etcdserverpb.StatusResponse.toJSON(s));
  });
});

describe('gRPC service definitions', () => {
  it('KV', () => {
    expect(etcdserverpb.KVService.range.path).toBe('/etcdserverpb.KV/Range');
    expect(etcdserverpb.KVService.put.path).toBe('/etcdserverpb.KV/Put');
    expect(etcdserverpb.KVService.deleteRange.path).toBe('/etcdserverpb.KV/DeleteRange');
    expect(etcdserverpb.KVService.txn.path).toBe('/etcdserverpb.KV/Txn');
    expect(etcdserverpb.KVService.compact.path).toBe('/etcdserverpb.KV/Compact');
    expect(etcdserverpb.KVService.range.requestStream).toBe(false);
    expect(etcdserverpb.KVService.range.responseStream).toBe(false);
  });

  it('Watch is bidirectional streaming', () => {
    expect(etcdserverpb.WatchService.watch.path).toBe('/etcdserverpb.Watch/Watch');
    expect(etcdserverpb.WatchService.watch.requestStream).toBe(true);
    expect(etcdserverpb.WatchService.watch.responseStream).toBe(true);
  });

  it('Lease', () => {
    expect(etcdserverpb.LeaseService.leaseKeepAlive.path).toBe('/etcdserverpb.Lease/LeaseKeepAlive');
    expect(etcdserverpb.LeaseService.leaseKeepAlive.requestStream).toBe(true);
    expect(etcdserverpb.LeaseService.leaseKeepAlive.responseStream).toBe(true);
    expect(etcdserverpb.LeaseService.leaseLeases.path).toBe('/etcdserverpb.Lease/LeaseLeases');
  });

  it('Maintenance.Snapshot is server streaming; Downgrade exists', () => {
    expect(etcdserverpb.MaintenanceService.snapshot.path).toBe('/etcdserverpb.Maintenance/Snapshot');
    expect(etcdserverpb.MaintenanceService.snapshot.requestStream).toBe(false);
    expect(etcdserverpb.MaintenanceService.snapshot.responseStream).toBe(true);
    // ts-proto camel-cases method keys: HashKV -> hashKv (the wire path keeps HashKV)
    expect(etcdserverpb.MaintenanceService.hashKv.path).toBe('/etcdserverpb.Maintenance/HashKV');
    expect(etcdserverpb.MaintenanceService.downgrade.path).toBe('/etcdserverpb.Maintenance/Downgrade');
  });

  it('Cluster and Auth', () => {
    expect(etcdserverpb.ClusterService.memberPromote.path).toBe('/etcdserverpb.Cluster/MemberPromote');
    expect(etcdserverpb.AuthService.authStatus.path).toBe('/etcdserverpb.Auth/AuthStatus');
    expect(etcdserverpb.AuthService.userGrantRole.path).toBe('/etcdserverpb.Auth/UserGrantRole');
    expect(Object.keys(etcdserverpb.AuthService)).toHaveLength(17);
  });

  it('Lock and Election', () => {
    expect(v3lockpb.LockService.lock.path).toBe('/v3lockpb.Lock/Lock');
    expect(v3lockpb.LockService.unlock.path).toBe('/v3lockpb.Lock/Unlock');
    expect(v3electionpb.ElectionService.observe.path).toBe('/v3electionpb.Election/Observe');
    expect(v3electionpb.ElectionService.observe.requestStream).toBe(false);
    expect(v3electionpb.ElectionService.observe.responseStream).toBe(true);
  });

  it('serializers are wired to the right message types', () => {
    const req = etcdserverpb.PutRequest.fromPartial({ key: b('a') });
    const buf = etcdserverpb.KVService.put.requestSerialize(req);
    expect(hex(buf)).toBe('0a0161');
    expect(etcdserverpb.KVService.put.requestDeserialize(buf)).toEqual(req);
  });

  it('grpc-js client constructors exist', () => {
    expect(typeof etcdserverpb.KVClient).toBe('function');
    expect(typeof etcdserverpb.WatchClient).toBe('function');
    expect(typeof v3lockpb.LockClient).toBe('function');
  });
});

describe('errors', () => {
  it('texts match etcd exactly', () => {
    expect(ErrorText.EmptyKey).toBe('etcdserver: key is not provided');
    expect(ErrorText.Compacted).toBe('etcdserver: mvcc: required revision has been compacted');
    expect(ErrorText.FutureRev).toBe('etcdserver: mvcc: required revision is a future revision');
    expect(ErrorText.LeaseNotFound).toBe('etcdserver: requested lease not found');
    expect(ErrorText.PeerURLExist).toBe('etcdserver: Peer URLs already exists');
    expect(ErrorText.TooManyRequests).toBe('etcdserver: too many requests');
  });

  it('codes match etcd', () => {
    expect(ErrorCode.EmptyKey).toBe(status.INVALID_ARGUMENT);
    expect(ErrorCode.Compacted).toBe(status.OUT_OF_RANGE);
    expect(ErrorCode.NoSpace).toBe(status.RESOURCE_EXHAUSTED);
    expect(ErrorCode.LeaseNotFound).toBe(status.NOT_FOUND);
    expect(ErrorCode.InvalidAuthToken).toBe(status.UNAUTHENTICATED);
    expect(ErrorCode.PermissionDenied).toBe(status.PERMISSION_DENIED);
    expect(ErrorCode.NoLeader).toBe(status.UNAVAILABLE);
    expect(ErrorCode.NotLeader).toBe(status.FAILED_PRECONDITION);
    expect(ErrorCode.Corrupt).toBe(status.DATA_LOSS);
    expect(ErrorCode.WatchCanceled).toBe(status.CANCELLED);
  });

  it('tables are parallel, complete and unique', () => {
    const names = Object.keys(ErrorText) as EtcdErrorName[];
    expect(Object.keys(ErrorCode).sort()).toEqual([...names].sort());
    expect(names).toHaveLength(52);
    expect(new Set(Object.values(ErrorText)).size).toBe(names.length);
    for (const n of names) {
      expect(ErrorText[n].startsWith('etcdserver: ')).toBe(true);
      expect(etcdErrorName(ErrorText[n])).toBe(n);
    }
    expect(etcdErrorName('nope')).toBeUndefined();
  });
});

describe('grpc-js end to end on 127.0.0.1', () => {
  it('KV.Put (unary), Watch (bidi) and an etcd error status', async () => {
    const kv: etcdserverpb.KVServer = {
      range: (_call, cb) => cb({ code: ErrorCode.Compacted, details: ErrorText.Compacted }),
      put: (call, cb) =>
        cb(null, etcdserverpb.PutResponse.fromPartial({ header: { revision: call.request.lease }, prevKv: { key: call.request.key } })),
      deleteRange: (_call, cb) => cb(null, etcdserverpb.DeleteRangeResponse.fromPartial({})),
      txn: (_call, cb) => cb(null, etcdserverpb.TxnResponse.fromPartial({})),
      compact: (_call, cb) => cb(null, etcdserverpb.CompactionResponse.fromPartial({})),
    };
    const watch: etcdserverpb.WatchServer = {
      watch: (call) => {
        call.on('data', (req: etcdserverpb.WatchRequest) => {
          if (req.createRequest) {
            call.write(etcdserverpb.WatchResponse.fromPartial({ watchId: req.createRequest.watchId, created: true }));
          } else {
            call.end();
          }
        });
      },
    };
    const server = new Server();
    server.addService(etcdserverpb.KVService, kv);
    server.addService(etcdserverpb.WatchService, watch);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const addr = `127.0.0.1:${port}`;
    const client = new etcdserverpb.KVClient(addr, credentials.createInsecure());
    const watcher = new etcdserverpb.WatchClient(addr, credentials.createInsecure());
    try {
      const put = await new Promise<etcdserverpb.PutResponse>((resolve, reject) =>
        client.put(etcdserverpb.PutRequest.fromPartial({ key: b('k'), lease: BIG_LEASE }), (err, res) =>
          err ? reject(err) : resolve(res),
        ),
      );
      expect(put.header?.revision).toBe(BIG_LEASE);
      expect(put.prevKv?.key).toEqual(b('k'));

      const err = await new Promise<ServiceError>((resolve) =>
        client.range(etcdserverpb.RangeRequest.fromPartial({ key: b('k') }), (e) => resolve(e as ServiceError)),
      );
      expect(err.code).toBe(status.OUT_OF_RANGE);
      expect(err.details).toBe(ErrorText.Compacted);
      expect(etcdErrorName(err.details)).toBe('Compacted');

      const stream = watcher.watch();
      const first = await new Promise<etcdserverpb.WatchResponse>((resolve, reject) => {
        stream.once('data', resolve);
        stream.once('error', reject);
        stream.write({ createRequest: etcdserverpb.WatchCreateRequest.fromPartial({ key: b('k'), watchId: 42n }) });
      });
      expect(first.created).toBe(true);
      expect(first.watchId).toBe(42n);
      await new Promise<void>((resolve) => {
        stream.on('end', resolve);
        stream.on('data', () => {});
        stream.write({ cancelRequest: { watchId: 42n } });
        stream.end();
      });
    } finally {
      client.close();
      watcher.close();
      server.forceShutdown();
    }
  }, 15_000);
});
