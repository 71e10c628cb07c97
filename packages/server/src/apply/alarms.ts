// Active alarms (NOSPACE, CORRUPT), persisted in the `alarm` bucket as etcd does: the key is the
// encoded AlarmMember, the value empty.
import { etcdserverpb } from '@kv/api';

export interface AlarmBucket {
  put(key: Buffer, value: Buffer): void;
  del(key: Buffer): void;
}

type AlarmMember = etcdserverpb.AlarmMember;
const AlarmType = etcdserverpb.AlarmType;

export class AlarmStore {
  private readonly active = new Map<string, AlarmMember>();

  private static key(m: AlarmMember): string {
    return `${m.memberID}/${m.alarm}`;
  }

  restore(keys: Iterable<Buffer>): void {
    for (const k of keys) {
      const m = etcdserverpb.AlarmMember.decode(k);
      this.active.set(AlarmStore.key(m), m);
    }
  }

  /** Alarms of a type (NONE = all), ordered by member then type. */
  get(type: etcdserverpb.AlarmType): AlarmMember[] {
    return [...this.active.values()]
      .filter((m) => type === AlarmType.NONE || m.alarm === type)
      .sort((a, b) => (a.memberID === b.memberID ? a.alarm - b.alarm : a.memberID < b.memberID ? -1 : 1));
  }

  has(type: etcdserverpb.AlarmType): boolean {
    for (const m of this.active.values()) if (m.alarm === type) return true;
    return false;
  }

  /** Returns the alarm if it was newly raised. */
  activate(memberID: bigint, alarm: etcdserverpb.AlarmType, bucket: AlarmBucket): AlarmMember | undefined {
    const m: AlarmMember = { memberID, alarm };
    const k = AlarmStore.key(m);
    if (this.active.has(k)) return this.active.get(k);
    this.active.set(k, m);
    bucket.put(Buffer.from(etcdserverpb.AlarmMember.encode(m).finish()), Buffer.alloc(0));
    return m;
  }

  deactivate(memberID: bigint, alarm: etcdserverpb.AlarmType, bucket: AlarmBucket): AlarmMember | undefined {
    const m: AlarmMember = { memberID, alarm };
    const k = AlarmStore.key(m);
    const had = this.active.get(k);
    if (!had) return undefined;
    this.active.delete(k);
    bucket.del(Buffer.from(etcdserverpb.AlarmMember.encode(m).finish()));
    return had;
  }
}
