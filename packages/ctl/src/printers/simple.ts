// -w simple (the default): etcdctl's printer_simple.go.
import { authpb, etcdserverpb, mvccpb } from '@kv/api';
import { prefixEnd } from '@kv/client';
import { goHex } from '../gofmt.js';
import {
  endpointHashKVRows,
  endpointStatusRows,
  memberListRows,
  type EpHashKV,
  type EpHealth,
  type EpStatus,
  type Printer,
  type PrinterContext,
} from './printer.js';

/** "\xNN" for every byte (etcdctl --hex). */
export function hexEscaped(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += '\\x' + x.toString(16).padStart(2, '0');
  return s;
}

export function alarmTypeName(t: etcdserverpb.AlarmType): string {
  return etcdserverpb.alarmTypeToJSON(t);
}

export function eventTypeName(t: mvccpb.Event_EventType): string {
  return mvccpb.event_EventTypeToJSON(t);
}

export class SimplePrinter implements Printer {
  /** --print-value-only */
  valueOnly = false;

  constructor(private readonly ctx: PrinterContext) {}

  private kv(kv: mvccpb.KeyValue | undefined): void {
    const out = this.ctx.out;
    const key = kv?.key ?? Buffer.alloc(0);
    const value = kv?.value ?? Buffer.alloc(0);
    if (this.ctx.isHex) {
      if (!this.valueOnly) out.println(hexEscaped(key));
      out.println(hexEscaped(value));
      return;
    }
    // Keys and values are printed as raw bytes followed by a newline.
    if (!this.valueOnly) {
      out.print(key);
      out.print('\n');
    }
    out.print(value);
    out.print('\n');
  }

  del(r: etcdserverpb.DeleteRangeResponse): void {
    this.ctx.out.println(r.deleted);
    for (const kv of r.prevKvs) this.kv(kv);
  }

  get(r: etcdserverpb.RangeResponse): void {
    for (const kv of r.kvs) this.kv(kv);
  }

  put(r: etcdserverpb.PutResponse): void {
    this.ctx.out.println('OK');
    if (r.prevKv) this.kv(r.prevKv);
  }

  txn(r: etcdserverpb.TxnResponse): void {
    this.ctx.out.println(r.succeeded ? 'SUCCESS' : 'FAILURE');
    for (const op of r.responses) {
      this.ctx.out.println('');
      if (op.responseDeleteRange) this.del(op.responseDeleteRange);
      else if (op.responsePut) this.put(op.responsePut);
      else if (op.responseRange) this.get(op.responseRange);
      else this.ctx.out.println(`unexpected response ${goStructOp(op)}`);
    }
  }

  watch(r: etcdserverpb.WatchResponse): void {
    for (const e of r.events) {
      this.ctx.out.println(eventTypeName(e.type));
      if (e.prevKv) this.kv(e.prevKv);
      this.kv(e.kv);
    }
  }

  grant(r: etcdserverpb.LeaseGrantResponse): void {
    this.ctx.out.println(`lease ${goHex(r.ID, 16)} granted with TTL(${r.TTL}s)`);
  }

  revoke(id: bigint): void {
    this.ctx.out.println(`lease ${goHex(id, 16)} revoked`);
  }

  keepAlive(r: etcdserverpb.LeaseKeepAliveResponse): void {
    this.ctx.out.println(`lease ${goHex(r.ID, 16)} keepalived with TTL(${r.TTL})`);
  }

  timeToLive(r: etcdserverpb.LeaseTimeToLiveResponse, keys: boolean): void {
    if (r.grantedTTL === 0n && r.TTL === -1n) {
      this.ctx.out.println(`lease ${goHex(r.ID, 16)} already expired`);
      return;
    }
    let txt = `lease ${goHex(r.ID, 16)} granted with TTL(${r.grantedTTL}s), remaining(${r.TTL}s)`;
    if (keys) txt += `, attached keys([${r.keys.map((k) => k.toString('latin1')).join(' ')}])`;
    this.ctx.out.print(Buffer.from(txt + '\n', 'latin1'));
  }

  leases(r: etcdserverpb.LeaseLeasesResponse): void {
    this.ctx.out.println(`found ${r.leases.length} leases`);
    for (const l of r.leases) this.ctx.out.println(goHex(l.ID, 16));
  }

  memberList(r: etcdserverpb.MemberListResponse): void {
    for (const row of memberListRows(r).rows) this.ctx.out.println(row.join(', '));
  }

  // "%16x": space-padded, as etcdctl prints member and cluster ids here.
  memberAdd(r: etcdserverpb.MemberAddResponse): void {
    this.ctx.out.println(`Member ${goHex(r.member?.ID ?? 0n, 16, ' ')} added to cluster ${goHex(r.header?.clusterId ?? 0n, 16, ' ')}`);
  }

  memberRemove(id: bigint, r: etcdserverpb.MemberRemoveResponse): void {
    this.ctx.out.println(`Member ${goHex(id, 16, ' ')} removed from cluster ${goHex(r.header?.clusterId ?? 0n, 16, ' ')}`);
  }

  memberUpdate(id: bigint, r: etcdserverpb.MemberUpdateResponse): void {
    this.ctx.out.println(`Member ${goHex(id, 16, ' ')} updated in cluster ${goHex(r.header?.clusterId ?? 0n, 16, ' ')}`);
  }

  memberPromote(id: bigint, r: etcdserverpb.MemberPromoteResponse): void {
    this.ctx.out.println(`Member ${goHex(id, 16, ' ')} promoted in cluster ${goHex(r.header?.clusterId ?? 0n, 16, ' ')}`);
  }

  /** types.ID's String(): plain lower-case hex. */
  moveLeader(leader: bigint, target: bigint): void {
    this.ctx.out.println(`Leadership transferred from ${goHex(leader)} to ${goHex(target)}`);
  }

  endpointHealth(list: EpHealth[]): void {
    for (const h of list) {
      if (h.error === '') {
        this.ctx.err.println(`${h.ep} is healthy: successfully committed proposal: took = ${h.took}`);
      } else {
        this.ctx.err.println(`${h.ep} is unhealthy: failed to commit proposal: ${h.error}`);
      }
    }
  }

  endpointStatus(list: EpStatus[]): void {
    for (const row of endpointStatusRows(list).rows) this.ctx.out.println(row.join(', '));
  }

  endpointHashKV(list: EpHashKV[]): void {
    for (const row of endpointHashKVRows(list).rows) this.ctx.out.println(row.join(', '));
  }

  alarm(r: etcdserverpb.AlarmResponse): void {
    for (const a of r.alarms) {
      // %+v of the message is its compact text form.
      let s = '';
      if (a.memberID !== 0n) s += `memberID:${a.memberID} `;
      if (a.alarm !== 0) s += `alarm:${alarmTypeName(a.alarm)} `;
      this.ctx.out.println(s);
    }
  }

  // ---- auth ----

  /** etcdctl 3.5's `auth status` lines. */
  authStatus(r: etcdserverpb.AuthStatusResponse): void {
    this.ctx.out.println('Authentication Status:', r.enabled);
    this.ctx.out.println('AuthRevision:', r.authRevision);
  }

  roleAdd(role: string): void {
    this.ctx.out.println(`Role ${role} created`);
  }

  roleGet(role: string, r: etcdserverpb.AuthRoleGetResponse): void {
    const out = this.ctx.out;
    out.println(`Role ${role}`);
    const section = (title: string, types: authpb.Permission_Type[]) => {
      out.println(title);
      for (const p of r.perm) if (types.includes(p.permType)) out.print(permLine(p));
    };
    section('KV Read:', [authpb.Permission_Type.READ, authpb.Permission_Type.READWRITE]);
    section('KV Write:', [authpb.Permission_Type.WRITE, authpb.Permission_Type.READWRITE]);
  }

  roleList(r: etcdserverpb.AuthRoleListResponse): void {
    for (const role of r.roles) this.ctx.out.println(role);
  }

  roleDelete(role: string): void {
    this.ctx.out.println(`Role ${role} deleted`);
  }

  roleGrantPermission(role: string): void {
    this.ctx.out.println(`Role ${role} updated`);
  }

  roleRevokePermission(role: string, key: Buffer, end: Buffer): void {
    const b = (s: string) => Buffer.from(s, 'utf8');
    let line: Buffer;
    if (end.length === 0) line = Buffer.concat([b('Permission of key '), key, b(` is revoked from role ${role}\n`)]);
    else if (!isOpenEnd(end)) line = Buffer.concat([b('Permission of range ['), key, b(', '), end, b(`) is revoked from role ${role}\n`)]);
    else line = Buffer.concat([b('Permission of range ['), key, b(`, <open ended> is revoked from role ${role}\n`)]);
    this.ctx.out.print(line);
  }

  userAdd(user: string): void {
    this.ctx.out.println(`User ${user} created`);
  }

  userGet(user: string, r: etcdserverpb.AuthUserGetResponse): void {
    this.ctx.out.println(`User: ${user}`);
    this.ctx.out.println('Roles:' + r.roles.map((x) => ` ${x}`).join(''));
  }

  userList(r: etcdserverpb.AuthUserListResponse): void {
    for (const u of r.users) this.ctx.out.println(u);
  }

  userChangePassword(): void {
    this.ctx.out.println('Password updated');
  }

  userGrantRole(user: string, role: string): void {
    this.ctx.out.println(`Role ${role} is granted to user ${user}`);
  }

  userRevokeRole(user: string, role: string): void {
    this.ctx.out.println(`Role ${role} is revoked from user ${user}`);
  }

  userDelete(user: string): void {
    this.ctx.out.println(`User ${user} deleted`);
  }
}

function goStructOp(op: etcdserverpb.ResponseOp): string {
  return op.responseTxn ? '{Response:0xc000000000}' : '{Response:<nil>}';
}

const isOpenEnd = (end: Uint8Array): boolean => end.length === 1 && end[0] === 0;

/**
 * One permission under "KV Read:"/"KV Write:" (etcdctl's printRange): a key alone, `[key, end)`,
 * `[key, <open ended>` for "\0", and ` (prefix key)` when the end is the key's prefix end.
 */
export function permLine(p: authpb.Permission): Buffer {
  const b = (s: string) => Buffer.from(s, 'utf8');
  if (p.rangeEnd.length === 0) return Buffer.concat([b('\t'), p.key, b('\n')]);
  const parts = isOpenEnd(p.rangeEnd) ? [b('\t['), p.key, b(', <open ended>')] : [b('\t['), p.key, b(', '), p.rangeEnd, b(')')];
  if (prefixEnd(p.key).equals(p.rangeEnd)) parts.push(b(' (prefix '), p.key, b(')'));
  parts.push(b('\n'));
  return Buffer.concat(parts);
}
