// -w json: what Go's encoding/json makes of the response structs etcdctl prints (gogoproto
// messages with `json:"name,omitempty"` tags in field order; clientv3's lease and watch
// wrappers with their own field names). Integers are written exactly (64-bit), bytes as base64.
import type { authpb, etcdserverpb, mvccpb } from '@kv/api';
import { goJsonString } from '../gofmt.js';
import { UnsupportedPrinter, type EpHashKV, type EpHealth, type EpStatus, type PrinterContext } from './printer.js';

/** A JSON value already rendered as text, or undefined when omitted. */
type J = string | undefined;

const num = (n: bigint | number, omitEmpty = true): J => (omitEmpty && (n === 0n || n === 0) ? undefined : String(n));
const bool = (b: boolean, omitEmpty = true): J => (omitEmpty && !b ? undefined : String(b));
const str = (s: string, omitEmpty = true): J => (omitEmpty && s === '' ? undefined : goJsonString(s));
const bytes = (b: Uint8Array, omitEmpty = true): J => (omitEmpty && b.length === 0 ? undefined : `"${Buffer.from(b).toString('base64')}"`);
/** A slice: omitted when empty with omitempty; `null` for a nil slice without it. */
function arr<T>(xs: T[] | undefined, f: (x: T) => string, opts: { omitEmpty?: boolean; nilWhenEmpty?: boolean } = {}): J {
  const omitEmpty = opts.omitEmpty ?? true;
  if (!xs || xs.length === 0) {
    if (omitEmpty) return undefined;
    return opts.nilWhenEmpty ? 'null' : '[]';
  }
  return `[${xs.map(f).join(',')}]`;
}

function obj(fields: [string, J][]): string {
  return `{${fields
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${goJsonString(k)}:${v}`)
    .join(',')}}`;
}

/** Fields of a ResponseHeader (for embedding as well as nesting). */
function headerFields(h: etcdserverpb.ResponseHeader | undefined): [string, J][] {
  if (!h) return [];
  return [
    ['cluster_id', num(h.clusterId)],
    ['member_id', num(h.memberId)],
    ['revision', num(h.revision)],
    ['raft_term', num(h.raftTerm)],
  ];
}

const header = (h: etcdserverpb.ResponseHeader | undefined): J => (h ? obj(headerFields(h)) : undefined);

export function jsonKV(kv: mvccpb.KeyValue | undefined): J {
  if (!kv) return undefined;
  return obj([
    ['key', bytes(kv.key)],
    ['create_revision', num(kv.createRevision)],
    ['mod_revision', num(kv.modRevision)],
    ['version', num(kv.version)],
    ['value', bytes(kv.value)],
    ['lease', num(kv.lease)],
  ]);
}

export function jsonRange(r: etcdserverpb.RangeResponse): string {
  return obj([
    ['header', header(r.header)],
    ['kvs', arr(r.kvs, (kv) => jsonKV(kv)!)],
    ['more', bool(r.more)],
    ['count', num(r.count)],
  ]);
}

export function jsonPut(r: etcdserverpb.PutResponse): string {
  return obj([
    ['header', header(r.header)],
    ['prev_kv', jsonKV(r.prevKv)],
  ]);
}

export function jsonDel(r: etcdserverpb.DeleteRangeResponse): string {
  return obj([
    ['header', header(r.header)],
    ['deleted', num(r.deleted)],
    ['prev_kvs', arr(r.prevKvs, (kv) => jsonKV(kv)!)],
  ]);
}

function jsonResponseOp(op: etcdserverpb.ResponseOp): string {
  // The oneof is an interface field without a json tag: {"Response":{"ResponsePut":{...}}}.
  let inner: string;
  if (op.responseRange) inner = obj([['ResponseRange', jsonRange(op.responseRange)]]);
  else if (op.responsePut) inner = obj([['ResponsePut', jsonPut(op.responsePut)]]);
  else if (op.responseDeleteRange) inner = obj([['ResponseDeleteRange', jsonDel(op.responseDeleteRange)]]);
  else if (op.responseTxn) inner = obj([['ResponseTxn', jsonTxn(op.responseTxn)]]);
  else inner = 'null';
  return obj([['Response', inner]]);
}

export function jsonTxn(r: etcdserverpb.TxnResponse): string {
  return obj([
    ['header', header(r.header)],
    ['succeeded', bool(r.succeeded)],
    ['responses', arr(r.responses, jsonResponseOp)],
  ]);
}

function jsonEvent(e: mvccpb.Event): string {
  return obj([
    ['type', num(e.type)],
    ['kv', jsonKV(e.kv)],
    ['prev_kv', jsonKV(e.prevKv)],
  ]);
}

/** clientv3.WatchResponse: Header by value, Events always a (possibly empty) slice. */
export function jsonWatch(r: etcdserverpb.WatchResponse): string {
  return obj([
    ['Header', obj(headerFields(r.header))],
    ['Events', `[${r.events.map(jsonEvent).join(',')}]`],
    ['CompactRevision', String(r.compactRevision)],
    ['Canceled', String(r.canceled)],
    ['Created', String(r.created)],
  ]);
}

function jsonMember(m: etcdserverpb.Member): string {
  return obj([
    ['ID', num(m.ID)],
    ['name', str(m.name)],
    ['peerURLs', arr(m.peerURLs, (u) => goJsonString(u))],
    ['clientURLs', arr(m.clientURLs, (u) => goJsonString(u))],
    ['isLearner', bool(m.isLearner)],
  ]);
}

function jsonStatus(r: etcdserverpb.StatusResponse): string {
  return obj([
    ['header', header(r.header)],
    ['version', str(r.version)],
    ['dbSize', num(r.dbSize)],
    ['leader', num(r.leader)],
    ['raftIndex', num(r.raftIndex)],
    ['raftTerm', num(r.raftTerm)],
    ['raftAppliedIndex', num(r.raftAppliedIndex)],
    ['errors', arr(r.errors, (e) => goJsonString(e))],
    ['dbSizeInUse', num(r.dbSizeInUse)],
    ['isLearner', bool(r.isLearner)],
  ]);
}

function jsonHashKV(r: etcdserverpb.HashKVResponse): string {
  return obj([
    ['header', header(r.header)],
    ['hash', num(r.hash)],
    ['compact_revision', num(r.compactRevision)],
  ]);
}

export class JsonPrinter extends UnsupportedPrinter {
  constructor(private readonly ctx: PrinterContext) {
    super('json');
  }

  private line(s: string): void {
    this.ctx.out.println(s);
  }

  override del(r: etcdserverpb.DeleteRangeResponse): void {
    this.line(jsonDel(r));
  }
  override get(r: etcdserverpb.RangeResponse): void {
    this.line(jsonRange(r));
  }
  override put(r: etcdserverpb.PutResponse): void {
    this.line(jsonPut(r));
  }
  override txn(r: etcdserverpb.TxnResponse): void {
    this.line(jsonTxn(r));
  }
  override watch(r: etcdserverpb.WatchResponse): void {
    this.line(jsonWatch(r));
  }

  // clientv3's lease wrappers embed *ResponseHeader, so its fields sit at the top level.
  override grant(r: etcdserverpb.LeaseGrantResponse): void {
    this.line(obj([...headerFields(r.header), ['ID', String(r.ID)], ['TTL', String(r.TTL)], ['Error', goJsonString(r.error)]]));
  }

  override revoke(_id: bigint, r: etcdserverpb.LeaseRevokeResponse): void {
    this.line(obj([['header', header(r.header)]]));
  }

  override keepAlive(r: etcdserverpb.LeaseKeepAliveResponse): void {
    this.line(obj([...headerFields(r.header), ['ID', String(r.ID)], ['TTL', String(r.TTL)]]));
  }

  override timeToLive(r: etcdserverpb.LeaseTimeToLiveResponse): void {
    this.line(
      obj([
        ...headerFields(r.header),
        ['id', String(r.ID)],
        ['ttl', String(r.TTL)],
        ['granted-ttl', String(r.grantedTTL)],
        ['keys', arr(r.keys, (k) => bytes(k, false)!, { omitEmpty: false, nilWhenEmpty: true })],
      ]),
    );
  }

  override leases(r: etcdserverpb.LeaseLeasesResponse): void {
    this.line(obj([...headerFields(r.header), ['leases', `[${r.leases.map((l) => obj([['id', String(l.ID)]])).join(',')}]`]]));
  }

  // ---- auth: the gogoproto response structs (enums as numbers, omitted when 0) ----

  private headerOnly(r: { header?: etcdserverpb.ResponseHeader | undefined }): void {
    this.line(obj([['header', header(r.header)]]));
  }
  override authStatus(r: etcdserverpb.AuthStatusResponse): void {
    this.line(
      obj([
        ['header', header(r.header)],
        ['enabled', bool(r.enabled)],
        ['authRevision', num(r.authRevision)],
      ]),
    );
  }
  override roleAdd(_role: string, r: etcdserverpb.AuthRoleAddResponse): void {
    this.headerOnly(r);
  }
  override roleGet(_role: string, r: etcdserverpb.AuthRoleGetResponse): void {
    const perm = (p: authpb.Permission) =>
      obj([
        ['permType', num(p.permType)],
        ['key', bytes(p.key)],
        ['range_end', bytes(p.rangeEnd)],
      ]);
    this.line(
      obj([
        ['header', header(r.header)],
        ['perm', arr(r.perm, perm)],
      ]),
    );
  }
  override roleDelete(_role: string, r: etcdserverpb.AuthRoleDeleteResponse): void {
    this.headerOnly(r);
  }
  override roleList(r: etcdserverpb.AuthRoleListResponse): void {
    this.line(
      obj([
        ['header', header(r.header)],
        ['roles', arr(r.roles, (x) => goJsonString(x))],
      ]),
    );
  }
  override roleGrantPermission(_role: string, r: etcdserverpb.AuthRoleGrantPermissionResponse): void {
    this.headerOnly(r);
  }
  override roleRevokePermission(_role: string, _key: Buffer, _end: Buffer, r: etcdserverpb.AuthRoleRevokePermissionResponse): void {
    this.headerOnly(r);
  }
  override userAdd(_user: string, r: etcdserverpb.AuthUserAddResponse): void {
    this.headerOnly(r);
  }
  override userGet(_user: string, r: etcdserverpb.AuthUserGetResponse): void {
    this.line(
      obj([
        ['header', header(r.header)],
        ['roles', arr(r.roles, (x) => goJsonString(x))],
      ]),
    );
  }
  override userList(r: etcdserverpb.AuthUserListResponse): void {
    this.line(
      obj([
        ['header', header(r.header)],
        ['users', arr(r.users, (x) => goJsonString(x))],
      ]),
    );
  }
  override userChangePassword(r: etcdserverpb.AuthUserChangePasswordResponse): void {
    this.headerOnly(r);
  }
  override userGrantRole(_user: string, _role: string, r: etcdserverpb.AuthUserGrantRoleResponse): void {
    this.headerOnly(r);
  }
  override userRevokeRole(_user: string, _role: string, r: etcdserverpb.AuthUserRevokeRoleResponse): void {
    this.headerOnly(r);
  }
  override userDelete(_user: string, r: etcdserverpb.AuthUserDeleteResponse): void {
    this.headerOnly(r);
  }

  override memberList(r: etcdserverpb.MemberListResponse): void {
    this.line(
      obj([
        ['header', header(r.header)],
        ['members', arr(r.members, jsonMember)],
      ]),
    );
  }

  override memberAdd(r: etcdserverpb.MemberAddResponse): void {
    this.line(
      obj([
        ['header', header(r.header)],
        ['member', r.member ? jsonMember(r.member) : undefined],
        ['members', arr(r.members, jsonMember)],
      ]),
    );
  }
  override memberRemove(_id: bigint, r: etcdserverpb.MemberRemoveResponse): void {
    this.membersOnly(r);
  }
  override memberUpdate(_id: bigint, r: etcdserverpb.MemberUpdateResponse): void {
    this.membersOnly(r);
  }
  /** etcdctl 3.4 crashes here (its json printer lacks the method); kv prints the response. */
  override memberPromote(_id: bigint, r: etcdserverpb.MemberPromoteResponse): void {
    this.membersOnly(r);
  }
  private membersOnly(r: { header?: etcdserverpb.ResponseHeader | undefined; members: etcdserverpb.Member[] }): void {
    this.line(
      obj([
        ['header', header(r.header)],
        ['members', arr(r.members, jsonMember)],
      ]),
    );
  }
  override moveLeader(_leader: bigint, _target: bigint, r: etcdserverpb.MoveLeaderResponse): void {
    this.line(obj([['header', header(r.header)]]));
  }

  override endpointHealth(list: EpHealth[]): void {
    this.line(
      `[${list
        .map((h) =>
          obj([
            ['endpoint', goJsonString(h.ep)],
            ['health', String(h.health)],
            ['took', goJsonString(h.took)],
            ['error', str(h.error)],
          ]),
        )
        .join(',')}]`,
    );
  }

  override endpointStatus(list: EpStatus[]): void {
    this.line(
      `[${list
        .map((s) =>
          obj([
            ['Endpoint', goJsonString(s.ep)],
            ['Status', jsonStatus(s.resp)],
          ]),
        )
        .join(',')}]`,
    );
  }

  override endpointHashKV(list: EpHashKV[]): void {
    this.line(
      `[${list
        .map((h) =>
          obj([
            ['Endpoint', goJsonString(h.ep)],
            ['HashKV', jsonHashKV(h.resp)],
          ]),
        )
        .join(',')}]`,
    );
  }

  override alarm(r: etcdserverpb.AlarmResponse): void {
    this.line(
      obj([
        ['header', header(r.header)],
        [
          'alarms',
          arr(r.alarms, (a) =>
            obj([
              ['memberID', num(a.memberID)],
              ['alarm', num(a.alarm)],
            ]),
          ),
        ],
      ]),
    );
  }
}
