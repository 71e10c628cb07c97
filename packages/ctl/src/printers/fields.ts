// -w fields: etcdctl's printer_fields.go ("Name" : value lines).
import type { etcdserverpb, mvccpb } from '@kv/api';
import { goQuote } from '../gofmt.js';
import { authpb } from '@kv/api';
import { alarmTypeName, eventTypeName } from './simple.js';
import { UnsupportedPrinter, type EpHashKV, type EpHealth, type EpStatus, type PrinterContext } from './printer.js';

/** fmt.Println of a []string: "[a b c]". */
function goStringSlice(xs: string[]): string {
  return `[${xs.join(' ')}]`;
}

export class FieldsPrinter extends UnsupportedPrinter {
  constructor(private readonly ctx: PrinterContext) {
    super('fields');
  }

  private p(...parts: (string | bigint | number | boolean)[]): void {
    this.ctx.out.println(...parts);
  }

  private kv(pfx: string, kv: mvccpb.KeyValue | undefined): void {
    const k = kv ?? { key: Buffer.alloc(0), createRevision: 0n, modRevision: 0n, version: 0n, value: Buffer.alloc(0), lease: 0n };
    this.p(`"${pfx}Key" : ${goQuote(k.key)}`);
    this.p(`"${pfx}CreateRevision" : ${k.createRevision}`);
    this.p(`"${pfx}ModRevision" : ${k.modRevision}`);
    this.p(`"${pfx}Version" : ${k.version}`);
    this.p(`"${pfx}Value" : ${goQuote(k.value)}`);
    this.p(`"${pfx}Lease" : ${k.lease}`);
  }

  private hdr(h: etcdserverpb.ResponseHeader | undefined): void {
    this.p('"ClusterID" :', h?.clusterId ?? 0n);
    this.p('"MemberID" :', h?.memberId ?? 0n);
    this.p('"Revision" :', h?.revision ?? 0n);
    this.p('"RaftTerm" :', h?.raftTerm ?? 0n);
  }

  override del(r: etcdserverpb.DeleteRangeResponse): void {
    this.hdr(r.header);
    this.p('"Deleted" :', r.deleted);
    for (const kv of r.prevKvs) this.kv('Prev', kv);
  }

  override get(r: etcdserverpb.RangeResponse): void {
    this.hdr(r.header);
    for (const kv of r.kvs) this.kv('', kv);
    this.p('"More" :', r.more);
    this.p('"Count" :', r.count);
  }

  override put(r: etcdserverpb.PutResponse): void {
    this.hdr(r.header);
    if (r.prevKv) this.kv('Prev', r.prevKv);
  }

  override txn(r: etcdserverpb.TxnResponse): void {
    this.hdr(r.header);
    this.p('"Succeeded" :', r.succeeded);
    for (const op of r.responses) {
      if (op.responseDeleteRange) this.del(op.responseDeleteRange);
      else if (op.responsePut) this.put(op.responsePut);
      else if (op.responseRange) this.get(op.responseRange);
      else this.p(`"Unknown" : ${goQuote('&{ResponseTxn:0xc000000000}')}`);
    }
  }

  override watch(r: etcdserverpb.WatchResponse): void {
    this.hdr(r.header);
    for (const e of r.events) {
      this.p('"Type" :', eventTypeName(e.type));
      if (e.prevKv) this.kv('Prev', e.prevKv);
      this.kv('', e.kv);
    }
  }

  override grant(r: etcdserverpb.LeaseGrantResponse): void {
    this.hdr(r.header);
    this.p('"ID" :', r.ID);
    this.p('"TTL" :', r.TTL);
  }

  override revoke(_id: bigint, r: etcdserverpb.LeaseRevokeResponse): void {
    this.hdr(r.header);
  }

  override keepAlive(r: etcdserverpb.LeaseKeepAliveResponse): void {
    this.hdr(r.header);
    this.p('"ID" :', r.ID);
    this.p('"TTL" :', r.TTL);
  }

  override timeToLive(r: etcdserverpb.LeaseTimeToLiveResponse): void {
    this.hdr(r.header);
    this.p('"ID" :', r.ID);
    this.p('"TTL" :', r.TTL);
    this.p('"GrantedTTL" :', r.grantedTTL);
    for (const k of r.keys) this.p(`"Key" : ${goQuote(k)}`);
  }

  override leases(r: etcdserverpb.LeaseLeasesResponse): void {
    this.hdr(r.header);
    for (const l of r.leases) this.p('"ID" :', l.ID);
  }

  override memberList(r: etcdserverpb.MemberListResponse): void {
    this.hdr(r.header);
    for (const m of r.members) {
      this.p('"ID" :', m.ID);
      this.p(`"Name" : ${goQuote(m.name)}`);
      for (const u of m.peerURLs) this.p(`"PeerURL" : ${goQuote(u)}`);
      for (const u of m.clientURLs) this.p(`"ClientURL" : ${goQuote(u)}`);
      this.p('"IsLearner" :', m.isLearner);
      this.p();
    }
  }

  override endpointHealth(list: EpHealth[]): void {
    for (const h of list) {
      this.p(`"Endpoint" : ${goQuote(h.ep)}`);
      this.p('"Health" :', h.health);
      this.p('"Took" :', h.took);
      this.p('"Error" :', h.error);
      this.p();
    }
  }

  override endpointStatus(list: EpStatus[]): void {
    for (const { ep, resp } of list) {
      this.hdr(resp.header);
      this.p(`"Version" : ${goQuote(resp.version)}`);
      this.p('"DBSize" :', resp.dbSize);
      this.p('"Leader" :', resp.leader);
      this.p('"IsLearner" :', resp.isLearner);
      this.p('"RaftIndex" :', resp.raftIndex);
      this.p('"RaftTerm" :', resp.raftTerm);
      this.p('"RaftAppliedIndex" :', resp.raftAppliedIndex);
      this.p('"Errors" :', goStringSlice(resp.errors));
      this.p(`"Endpoint" : ${goQuote(ep)}`);
      this.p();
    }
  }

  override endpointHashKV(list: EpHashKV[]): void {
    for (const { ep, resp } of list) {
      this.hdr(resp.header);
      this.p(`"Endpoint" : ${goQuote(ep)}`);
      this.p('"Hash" :', resp.hash);
      this.p();
    }
  }

  override alarm(r: etcdserverpb.AlarmResponse): void {
    this.hdr(r.header);
    for (const a of r.alarms) {
      this.p('"MemberID" :', a.memberID);
      this.p('"AlarmType" :', alarmTypeName(a.alarm));
      this.p();
    }
  }

  // ---- auth (etcdctl 3.4 has no fields output for user get and user list: refused) ----

  /** etcdctl 3.5's fields for `auth status`. */
  override authStatus(r: etcdserverpb.AuthStatusResponse): void {
    this.hdr(r.header);
    this.p('"Enabled" :', r.enabled);
    this.p('"AuthRevision" :', r.authRevision);
  }
  override roleAdd(_role: string, r: etcdserverpb.AuthRoleAddResponse): void {
    this.hdr(r.header);
  }
  override roleGet(_role: string, r: etcdserverpb.AuthRoleGetResponse): void {
    this.hdr(r.header);
    for (const perm of r.perm) {
      // fmt.Println(`"PermType" : `, ...): the label's own space plus Println's.
      this.p('"PermType" : ', authpb.permission_TypeToJSON(perm.permType));
      this.p(`"Key" : ${goQuote(perm.key)}`);
      this.p(`"RangeEnd" : ${goQuote(perm.rangeEnd)}`);
    }
  }
  override roleDelete(_role: string, r: etcdserverpb.AuthRoleDeleteResponse): void {
    this.hdr(r.header);
  }
  override roleList(r: etcdserverpb.AuthRoleListResponse): void {
    this.hdr(r.header);
    this.p('"Roles" :' + r.roles.map((x) => ` ${goQuote(x)}`).join(''));
  }
  override roleGrantPermission(_role: string, r: etcdserverpb.AuthRoleGrantPermissionResponse): void {
    this.hdr(r.header);
  }
  override roleRevokePermission(_role: string, _key: Buffer, _end: Buffer, r: etcdserverpb.AuthRoleRevokePermissionResponse): void {
    this.hdr(r.header);
  }
  override userAdd(_user: string, r: etcdserverpb.AuthUserAddResponse): void {
    this.hdr(r.header);
  }
  override userChangePassword(r: etcdserverpb.AuthUserChangePasswordResponse): void {
    this.hdr(r.header);
  }
  override userGrantRole(_user: string, _role: string, r: etcdserverpb.AuthUserGrantRoleResponse): void {
    this.hdr(r.header);
  }
  override userRevokeRole(_user: string, _role: string, r: etcdserverpb.AuthUserRevokeRoleResponse): void {
    this.hdr(r.header);
  }
  override userDelete(_user: string, r: etcdserverpb.AuthUserDeleteResponse): void {
    this.hdr(r.header);
  }
}
