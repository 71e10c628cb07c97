// Maintenance service: status, hashes, alarms, defragmentation, snapshots.
import { etcdserverpb } from '@kv/api';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { RpcError, toServiceError } from '../errors.js';
import type { Member } from '../member.js';
import { sendSnapshot } from './snapshot.js';
import { unary } from './unary.js';

/** An alarm as Go's proto text form prints it, which is what etcd puts in Status.errors. */
function alarmString(a: etcdserverpb.AlarmMember): string {
  return `memberID:${a.memberID} alarm:${etcdserverpb.alarmTypeToJSON(a.alarm)} `;
}

export function maintenanceService(m: Member): etcdserverpb.MaintenanceServer {
  return {
    alarm: unary(async (req: etcdserverpb.AlarmRequest) => {
      return (await m.propose({ alarm: req })) as etcdserverpb.AlarmResponse;
    }),
    status: unary(async () => {
      const leader = m.consensus.leader();
      const errors: string[] = [];
      if (leader === 0n) errors.push('etcdserver: no leader');
      for (const a of m.alarms.get(etcdserverpb.AlarmType.NONE)) errors.push(alarmString(a));
      const resp: etcdserverpb.StatusResponse = etcdserverpb.StatusResponse.fromPartial({
        header: m.header(m.store.currentRev()),
        version: m.version.server,
        dbSize: BigInt(await m.backend.sizeOnDisk()),
        dbSizeInUse: BigInt(await m.backend.sizeInUse()),
        leader,
        raftIndex: m.consensus.commitIndex(),
        raftTerm: m.consensus.term(),
        raftAppliedIndex: m.consensus.appliedIndex(),
        errors,
        isLearner: m.isLearner(),
      });
      return resp;
    }),
    defragment: unary(async () => {
      await m.backend.defragment();
      return { header: m.header(m.store.currentRev()) };
    }),
    hash: unary(async () => {
      const hash = await m.store.hash();
      return { header: m.header(m.store.currentRev()), hash };
    }),
    hashKv: unary(async (req: etcdserverpb.HashKVRequest) => {
      const r = await m.store.hashByRev(req.revision);
      return etcdserverpb.HashKVResponse.fromPartial({
        header: m.header(r.currentRev),
        hash: r.hash,
        compactRevision: r.compactRev,
        hashRevision: req.revision === 0n ? r.currentRev : req.revision,
      });
    }),
    moveLeader: unary(async (req: etcdserverpb.MoveLeaderRequest) => {
      // etcd: only the leader moves leadership, to a voting member, and answers once it moved.
      if (!m.raft.isLeader()) throw new RpcError('NotLeader');
      const target = m.members().find((x) => x.id === req.targetID);
      if (!target || target.isLearner) throw new RpcError('BadLeaderTransferee');
      if (req.targetID !== m.memberId) await m.raft.moveLeader(req.targetID, 5000 + 2 * m.config.electionTimeoutMs);
      return { header: m.header(m.store.currentRev()) };
    }),
    snapshot(call: ServerWritableStream<etcdserverpb.SnapshotRequest, etcdserverpb.SnapshotResponse>) {
      const log = m.logger;
      sendSnapshot(m.backend, call, m.header(m.store.currentRev()), log).then(
        (r) => {
          const open = m.backend.openSnapshotReaders;
          if (r.sent) log.info({ 'total-bytes': r.bytes, 'open-snapshot-streams': open }, 'successfully sent database snapshot to client');
          else log.info({ 'sent-bytes': r.bytes, 'open-snapshot-streams': open }, 'database snapshot stream closed by the client; released its backend snapshot');
        },
        (err: unknown) => {
          log.warn({ err: String(err), 'open-snapshot-streams': m.backend.openSnapshotReaders }, 'failed to send database snapshot to client');
          call.destroy(toServiceError(err));
        },
      );
    },
    downgrade: unary(async () => {
      throw new RpcError('NotCapable');
    }),
  };
}
