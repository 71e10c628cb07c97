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

/** The replicated alarms, plus this member's NOSPACE while its WAL waits for space (not yet logged). */
function withLocalNoSpace(m: Member, alarms: etcdserverpb.AlarmMember[], type: etcdserverpb.AlarmType): etcdserverpb.AlarmMember[] {
  const NOSPACE = etcdserverpb.AlarmType.NOSPACE;
  if (!m.space.walWaiting || (type !== etcdserverpb.AlarmType.NONE && type !== NOSPACE)) return alarms;
  if (alarms.some((a) => a.memberID === m.memberId && a.alarm === NOSPACE)) return alarms;
  return [...alarms, { memberID: m.memberId, alarm: NOSPACE }];
}

export function maintenanceService(m: Member): etcdserverpb.MaintenanceServer {
  return {
    alarm: unary(async (req: etcdserverpb.AlarmRequest, call) => {
      // While the WAL waits for space nothing goes through the log: answer a list from here.
      if (req.action === etcdserverpb.AlarmRequest_AlarmAction.GET && m.space.walWaiting) {
        return { header: undefined, alarms: withLocalNoSpace(m, m.alarms.get(req.alarm), req.alarm) };
      }
      // Open to every user, as etcd 3.4; a bad token fails it.
      return (await m.proposeFull({ alarm: req }, () => m.identity.authInfo(call.metadata))).resp as etcdserverpb.AlarmResponse;
    }),
    status: unary(async () => {
      const leader = m.consensus.leader();
      const errors: string[] = [];
      if (leader === 0n) errors.push('etcdserver: no leader');
      for (const a of withLocalNoSpace(m, m.alarms.get(etcdserverpb.AlarmType.NONE), etcdserverpb.AlarmType.NONE)) {
        errors.push(alarmString(a));
      }
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
      // A defragment rewrites the tables: without room for a copy it would fail half-way (and a
      // LevelDB that hits ENOSPC in a compaction refuses every later write until reopened).
      const size = await m.backend.sizeOnDisk();
      const free = m.space.freeBytes();
      if (free < size) {
        throw new Error(`etcdserver: not enough free space to defragment: the backend takes ${size} bytes, ${free} are free`);
      }
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
      if (!m.consensus.isLeader()) throw new RpcError('NotLeader');
      const target = m.members().find((x) => x.id === req.targetID);
      if (!target || target.isLearner) throw new RpcError('BadLeaderTransferee');
      if (req.targetID !== m.memberId) await m.consensus.moveLeader(req.targetID, 5000 + 2 * m.config.electionTimeoutMs);
      return { header: m.header(m.store.currentRev()) };
    }),
    snapshot(call: ServerWritableStream<etcdserverpb.SnapshotRequest, etcdserverpb.SnapshotResponse>) {
      const log = m.logger;
      const t0 = m.clock.now();
      sendSnapshot(m.backend, call, m.header(m.store.currentRev()), log, { clusterVersion: m.version.cluster }).then(
        (r) => {
          const open = m.backend.openSnapshotReaders;
          if (r.sent) m.recorders.observeBackendSnapshot((m.clock.now() - t0) / 1000);
          if (r.sent) log.info({ 'total-bytes': r.bytes, 'open-snapshot-streams': open }, 'successfully sent database snapshot to client');
          else
            log.info(
              { 'sent-bytes': r.bytes, 'open-snapshot-streams': open },
              'database snapshot stream closed by the client; released its backend snapshot',
            );
        },
        (err: unknown) => {
          log.warn(
            { err: String(err), 'open-snapshot-streams': m.backend.openSnapshotReaders },
            'failed to send database snapshot to client',
          );
          call.destroy(toServiceError(err));
        },
      );
    },
    downgrade: unary(async () => {
      throw new RpcError('NotCapable');
    }),
  };
}
