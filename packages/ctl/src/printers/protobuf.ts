// -w protobuf: the response's protobuf encoding written raw. etcdctl marshals whatever it was
// handed; for clientv3's lease wrappers that is the embedded header only, and for
// LeaseRevokeResponse (passed by value) nothing can be marshalled.
import { etcdserverpb } from '@kv/api';
import { CtlExit, ExitCode } from '../exit.js';
import { UnsupportedPrinter, type PrinterContext } from './printer.js';

function compactHeader(h: etcdserverpb.ResponseHeader | undefined): string {
  if (!h) return '';
  let s = '';
  if (h.clusterId !== 0n) s += `cluster_id:${h.clusterId} `;
  if (h.memberId !== 0n) s += `member_id:${h.memberId} `;
  if (h.revision !== 0n) s += `revision:${h.revision} `;
  if (h.raftTerm !== 0n) s += `raft_term:${h.raftTerm} `;
  return s;
}

export class ProtobufPrinter extends UnsupportedPrinter {
  constructor(private readonly ctx: PrinterContext) {
    super('protobuf');
  }

  private bytes(b: Uint8Array): void {
    this.ctx.out.print(b);
  }

  private header(h: etcdserverpb.ResponseHeader | undefined): void {
    this.bytes(etcdserverpb.ResponseHeader.encode(h ?? etcdserverpb.ResponseHeader.fromPartial({})).finish());
  }

  override del(r: etcdserverpb.DeleteRangeResponse): void {
    this.bytes(etcdserverpb.DeleteRangeResponse.encode(r).finish());
  }
  override get(r: etcdserverpb.RangeResponse): void {
    this.bytes(etcdserverpb.RangeResponse.encode(r).finish());
  }
  override put(r: etcdserverpb.PutResponse): void {
    this.bytes(etcdserverpb.PutResponse.encode(r).finish());
  }
  override txn(r: etcdserverpb.TxnResponse): void {
    this.bytes(etcdserverpb.TxnResponse.encode(r).finish());
  }
  override watch(r: etcdserverpb.WatchResponse): void {
    const w = etcdserverpb.WatchResponse.fromPartial({
      header: r.header ?? {},
      events: r.events,
      compactRevision: r.compactRevision,
      canceled: r.canceled,
      created: r.created,
    });
    this.bytes(etcdserverpb.WatchResponse.encode(w).finish());
  }
  override grant(r: etcdserverpb.LeaseGrantResponse): void {
    this.header(r.header);
  }
  override keepAlive(r: etcdserverpb.LeaseKeepAliveResponse): void {
    this.header(r.header);
  }
  override timeToLive(r: etcdserverpb.LeaseTimeToLiveResponse): void {
    this.header(r.header);
  }
  override leases(r: etcdserverpb.LeaseLeasesResponse): void {
    this.header(r.header);
  }
  override revoke(_id: bigint, r: etcdserverpb.LeaseRevokeResponse): void {
    throw new CtlExit(ExitCode.BadFeature, `marshal unsupported for type clientv3.LeaseRevokeResponse ({${compactHeader(r.header)}})`);
  }
  override authStatus(r: etcdserverpb.AuthStatusResponse): void {
    this.bytes(etcdserverpb.AuthStatusResponse.encode(r).finish());
  }
  override roleAdd(_role: string, r: etcdserverpb.AuthRoleAddResponse): void {
    this.bytes(etcdserverpb.AuthRoleAddResponse.encode(r).finish());
  }
  override roleGet(_role: string, r: etcdserverpb.AuthRoleGetResponse): void {
    this.bytes(etcdserverpb.AuthRoleGetResponse.encode(r).finish());
  }
  override roleDelete(_role: string, r: etcdserverpb.AuthRoleDeleteResponse): void {
    this.bytes(etcdserverpb.AuthRoleDeleteResponse.encode(r).finish());
  }
  override roleList(r: etcdserverpb.AuthRoleListResponse): void {
    this.bytes(etcdserverpb.AuthRoleListResponse.encode(r).finish());
  }
  override roleGrantPermission(_role: string, r: etcdserverpb.AuthRoleGrantPermissionResponse): void {
    this.bytes(etcdserverpb.AuthRoleGrantPermissionResponse.encode(r).finish());
  }
  override roleRevokePermission(_role: string, _key: Buffer, _end: Buffer, r: etcdserverpb.AuthRoleRevokePermissionResponse): void {
    this.bytes(etcdserverpb.AuthRoleRevokePermissionResponse.encode(r).finish());
  }
  override userAdd(_user: string, r: etcdserverpb.AuthUserAddResponse): void {
    this.bytes(etcdserverpb.AuthUserAddResponse.encode(r).finish());
  }
  override userGet(_user: string, r: etcdserverpb.AuthUserGetResponse): void {
    this.bytes(etcdserverpb.AuthUserGetResponse.encode(r).finish());
  }
  override userList(r: etcdserverpb.AuthUserListResponse): void {
    this.bytes(etcdserverpb.AuthUserListResponse.encode(r).finish());
  }
  override userChangePassword(r: etcdserverpb.AuthUserChangePasswordResponse): void {
    this.bytes(etcdserverpb.AuthUserChangePasswordResponse.encode(r).finish());
  }
  override userGrantRole(_user: string, _role: string, r: etcdserverpb.AuthUserGrantRoleResponse): void {
    this.bytes(etcdserverpb.AuthUserGrantRoleResponse.encode(r).finish());
  }
  override userRevokeRole(_user: string, _role: string, r: etcdserverpb.AuthUserRevokeRoleResponse): void {
    this.bytes(etcdserverpb.AuthUserRevokeRoleResponse.encode(r).finish());
  }
  override userDelete(_user: string, r: etcdserverpb.AuthUserDeleteResponse): void {
    this.bytes(etcdserverpb.AuthUserDeleteResponse.encode(r).finish());
  }
  override memberList(r: etcdserverpb.MemberListResponse): void {
    this.bytes(etcdserverpb.MemberListResponse.encode(r).finish());
  }
  override memberAdd(r: etcdserverpb.MemberAddResponse): void {
    this.bytes(etcdserverpb.MemberAddResponse.encode(r).finish());
  }
  override memberRemove(_id: bigint, r: etcdserverpb.MemberRemoveResponse): void {
    this.bytes(etcdserverpb.MemberRemoveResponse.encode(r).finish());
  }
  override memberUpdate(_id: bigint, r: etcdserverpb.MemberUpdateResponse): void {
    this.bytes(etcdserverpb.MemberUpdateResponse.encode(r).finish());
  }
  /** etcdctl 3.4 crashes here (its protobuf printer lacks the method); kv writes the response. */
  override memberPromote(_id: bigint, r: etcdserverpb.MemberPromoteResponse): void {
    this.bytes(etcdserverpb.MemberPromoteResponse.encode(r).finish());
  }
  override moveLeader(_leader: bigint, _target: bigint, r: etcdserverpb.MoveLeaderResponse): void {
    this.bytes(etcdserverpb.MoveLeaderResponse.encode(r).finish());
  }
  override alarm(r: etcdserverpb.AlarmResponse): void {
    this.bytes(etcdserverpb.AlarmResponse.encode(r).finish());
  }
}
