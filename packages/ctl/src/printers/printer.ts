// The output formats of etcdctl 3.4 (-w simple|fields|json|protobuf|table): one Printer per
// format, each method printing one response the way etcdctl's printer_*.go does.
import type { etcdserverpb } from '@kv/api';
import { CtlExit, ExitCode } from '../exit.js';
import type { Out } from '../io.js';

export interface EpHealth {
  ep: string;
  health: boolean;
  took: string;
  error: string;
}

export interface EpStatus {
  ep: string;
  resp: etcdserverpb.StatusResponse;
}

export interface EpHashKV {
  ep: string;
  resp: etcdserverpb.HashKVResponse;
}

export interface Printer {
  del(r: etcdserverpb.DeleteRangeResponse): void;
  get(r: etcdserverpb.RangeResponse): void;
  put(r: etcdserverpb.PutResponse): void;
  txn(r: etcdserverpb.TxnResponse): void;
  watch(r: etcdserverpb.WatchResponse): void;

  grant(r: etcdserverpb.LeaseGrantResponse): void;
  revoke(id: bigint, r: etcdserverpb.LeaseRevokeResponse): void;
  keepAlive(r: etcdserverpb.LeaseKeepAliveResponse): void;
  timeToLive(r: etcdserverpb.LeaseTimeToLiveResponse, keys: boolean): void;
  leases(r: etcdserverpb.LeaseLeasesResponse): void;

  memberList(r: etcdserverpb.MemberListResponse): void;
  memberAdd(r: etcdserverpb.MemberAddResponse): void;
  memberRemove(id: bigint, r: etcdserverpb.MemberRemoveResponse): void;
  memberUpdate(id: bigint, r: etcdserverpb.MemberUpdateResponse): void;
  memberPromote(id: bigint, r: etcdserverpb.MemberPromoteResponse): void;
  moveLeader(leader: bigint, target: bigint, r: etcdserverpb.MoveLeaderResponse): void;
  endpointHealth(list: EpHealth[]): void;
  endpointStatus(list: EpStatus[]): void;
  endpointHashKV(list: EpHashKV[]): void;
  alarm(r: etcdserverpb.AlarmResponse): void;

  // auth (etcdctl's printer: role and user commands; auth enable/disable print their own line)
  authStatus(r: etcdserverpb.AuthStatusResponse): void;
  roleAdd(role: string, r: etcdserverpb.AuthRoleAddResponse): void;
  roleGet(role: string, r: etcdserverpb.AuthRoleGetResponse): void;
  roleDelete(role: string, r: etcdserverpb.AuthRoleDeleteResponse): void;
  roleList(r: etcdserverpb.AuthRoleListResponse): void;
  roleGrantPermission(role: string, r: etcdserverpb.AuthRoleGrantPermissionResponse): void;
  /** `key` as given on the command line; `end` the range end sent ("" for one key, "\0" open ended). */
  roleRevokePermission(role: string, key: Buffer, end: Buffer, r: etcdserverpb.AuthRoleRevokePermissionResponse): void;
  userAdd(user: string, r: etcdserverpb.AuthUserAddResponse): void;
  userGet(user: string, r: etcdserverpb.AuthUserGetResponse): void;
  userList(r: etcdserverpb.AuthUserListResponse): void;
  userChangePassword(r: etcdserverpb.AuthUserChangePasswordResponse): void;
  userGrantRole(user: string, role: string, r: etcdserverpb.AuthUserGrantRoleResponse): void;
  userRevokeRole(user: string, role: string, r: etcdserverpb.AuthUserRevokeRoleResponse): void;
  userDelete(user: string, r: etcdserverpb.AuthUserDeleteResponse): void;
}

export interface PrinterContext {
  out: Out;
  /** Standard error (endpoint health's simple output goes there). */
  err: Out;
  isHex: boolean;
}

/** A printer that refuses every response ("<format> not supported as output format"). */
export class UnsupportedPrinter implements Printer {
  constructor(protected readonly format: string) {}
  protected unsupported(): never {
    throw new CtlExit(ExitCode.BadFeature, `${this.format} not supported as output format`);
  }
  del(_r: etcdserverpb.DeleteRangeResponse): void {
    this.unsupported();
  }
  get(_r: etcdserverpb.RangeResponse): void {
    this.unsupported();
  }
  put(_r: etcdserverpb.PutResponse): void {
    this.unsupported();
  }
  txn(_r: etcdserverpb.TxnResponse): void {
    this.unsupported();
  }
  watch(_r: etcdserverpb.WatchResponse): void {
    this.unsupported();
  }
  grant(_r: etcdserverpb.LeaseGrantResponse): void {
    this.unsupported();
  }
  revoke(_id: bigint, _r: etcdserverpb.LeaseRevokeResponse): void {
    this.unsupported();
  }
  keepAlive(_r: etcdserverpb.LeaseKeepAliveResponse): void {
    this.unsupported();
  }
  timeToLive(_r: etcdserverpb.LeaseTimeToLiveResponse, _keys: boolean): void {
    this.unsupported();
  }
  leases(_r: etcdserverpb.LeaseLeasesResponse): void {
    this.unsupported();
  }
  memberList(_r: etcdserverpb.MemberListResponse): void {
    this.unsupported();
  }
  memberAdd(_r: etcdserverpb.MemberAddResponse): void {
    this.unsupported();
  }
  memberRemove(_id: bigint, _r: etcdserverpb.MemberRemoveResponse): void {
    this.unsupported();
  }
  memberUpdate(_id: bigint, _r: etcdserverpb.MemberUpdateResponse): void {
    this.unsupported();
  }
  /** etcdctl 3.4 has no such method in its non-simple printers (it crashes); kv refuses instead. */
  memberPromote(_id: bigint, _r: etcdserverpb.MemberPromoteResponse): void {
    this.unsupported();
  }
  moveLeader(_leader: bigint, _target: bigint, _r: etcdserverpb.MoveLeaderResponse): void {
    this.unsupported();
  }
  endpointHealth(_l: EpHealth[]): void {
    this.unsupported();
  }
  endpointStatus(_l: EpStatus[]): void {
    this.unsupported();
  }
  endpointHashKV(_l: EpHashKV[]): void {
    this.unsupported();
  }
  alarm(_r: etcdserverpb.AlarmResponse): void {
    this.unsupported();
  }
  authStatus(_r: etcdserverpb.AuthStatusResponse): void {
    this.unsupported();
  }
  roleAdd(_role: string, _r: etcdserverpb.AuthRoleAddResponse): void {
    this.unsupported();
  }
  roleGet(_role: string, _r: etcdserverpb.AuthRoleGetResponse): void {
    this.unsupported();
  }
  roleDelete(_role: string, _r: etcdserverpb.AuthRoleDeleteResponse): void {
    this.unsupported();
  }
  roleList(_r: etcdserverpb.AuthRoleListResponse): void {
    this.unsupported();
  }
  roleGrantPermission(_role: string, _r: etcdserverpb.AuthRoleGrantPermissionResponse): void {
    this.unsupported();
  }
  roleRevokePermission(_role: string, _key: Buffer, _end: Buffer, _r: etcdserverpb.AuthRoleRevokePermissionResponse): void {
    this.unsupported();
  }
  userAdd(_user: string, _r: etcdserverpb.AuthUserAddResponse): void {
    this.unsupported();
  }
  userGet(_user: string, _r: etcdserverpb.AuthUserGetResponse): void {
    this.unsupported();
  }
  userList(_r: etcdserverpb.AuthUserListResponse): void {
    this.unsupported();
  }
  userChangePassword(_r: etcdserverpb.AuthUserChangePasswordResponse): void {
    this.unsupported();
  }
  userGrantRole(_user: string, _role: string, _r: etcdserverpb.AuthUserGrantRoleResponse): void {
    this.unsupported();
  }
  userRevokeRole(_user: string, _role: string, _r: etcdserverpb.AuthUserRevokeRoleResponse): void {
    this.unsupported();
  }
  userDelete(_user: string, _r: etcdserverpb.AuthUserDeleteResponse): void {
    this.unsupported();
  }
}

// ---- rows shared by the simple and table formats (etcdctl's make*Table) ----

import { goHex, humanizeBytes } from '../gofmt.js';

export function memberListRows(r: etcdserverpb.MemberListResponse): { hdr: string[]; rows: string[][] } {
  const hdr = ['ID', 'Status', 'Name', 'Peer Addrs', 'Client Addrs', 'Is Learner'];
  const rows = r.members.map((m) => [
    goHex(m.ID),
    m.name.length === 0 ? 'unstarted' : 'started',
    m.name,
    m.peerURLs.join(','),
    m.clientURLs.join(','),
    m.isLearner ? 'true' : 'false',
  ]);
  return { hdr, rows };
}

export function endpointHealthRows(list: EpHealth[]): { hdr: string[]; rows: string[][] } {
  return {
    hdr: ['endpoint', 'health', 'took', 'error'],
    rows: list.map((h) => [h.ep, String(h.health), h.took, h.error]),
  };
}

export function endpointStatusRows(list: EpStatus[]): { hdr: string[]; rows: string[][] } {
  const hdr = [
    'endpoint',
    'ID',
    'version',
    'db size',
    'is leader',
    'is learner',
    'raft term',
    'raft index',
    'raft applied index',
    'errors',
  ];
  const rows = list.map(({ ep, resp }) => {
    const memberId = resp.header?.memberId ?? 0n;
    return [
      ep,
      goHex(memberId),
      resp.version,
      humanizeBytes(resp.dbSize),
      String(resp.leader === memberId),
      String(resp.isLearner),
      resp.raftTerm.toString(),
      resp.raftIndex.toString(),
      resp.raftAppliedIndex.toString(),
      resp.errors.join(', '),
    ];
  });
  return { hdr, rows };
}

export function endpointHashKVRows(list: EpHashKV[]): { hdr: string[]; rows: string[][] } {
  return { hdr: ['endpoint', 'hash'], rows: list.map((h) => [h.ep, String(h.resp.hash)]) };
}
