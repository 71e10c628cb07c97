// KV service: request checks as etcd's v3rpc/key.go (from @kv/mvcc's request layer), then reads locally (after the read barrier
// for linearizable ones) — ranges and read-only txns — and writes through consensus.
import { etcdserverpb } from '@kv/api';
import type { Metadata } from '@grpc/grpc-js';
import {
  applyRange,
  applyTxn,
  checkDeleteRequest,
  checkPutRequest,
  checkRangeRequest,
  checkTxnRequest,
  isTxnReadonly,
  isTxnSerializable,
} from '@kv/mvcc';
import { checkRange, checkTxn } from '../auth/apply.js';
import type { Member } from '../member.js';

const anonymous = { username: '', revision: 0n };
import { unary } from './unary.js';

export function kvService(m: Member): etcdserverpb.KVServer {
  // The requester of a call, resolved (again) for every proposal attempt.
  const who = (call: { metadata: Metadata }) => () => m.identity.authInfo(call.metadata);
  return {
    range: unary(async (req: etcdserverpb.RangeRequest, call) => {
      checkRangeRequest(req);
      if (!req.serializable) await m.consensus.readBarrier();
      // Served here, not applied: the auth check is made here, on the state read from.
      checkRange(m.auth, m.identity.authInfo(call.metadata) ?? anonymous, req); // a bad token fails even with auth off, as etcd
      const resp = await applyRange(m.store, req);
      m.counters.range++;
      resp.header = m.header(resp.header?.revision ?? m.store.currentRev());
      return resp;
    }),
    put: unary(async (req: etcdserverpb.PutRequest, call) => {
      checkPutRequest(req);
      return (await m.proposeFull({ put: req }, who(call))).resp as etcdserverpb.PutResponse;
    }),
    deleteRange: unary(async (req: etcdserverpb.DeleteRangeRequest, call) => {
      checkDeleteRequest(req);
      return (await m.proposeFull({ deleteRange: req }, who(call))).resp as etcdserverpb.DeleteRangeResponse;
    }),
    txn: unary(async (req: etcdserverpb.TxnRequest, call) => {
      checkTxnRequest(req, m.config.maxTxnOps);
      if (isTxnReadonly(req)) {
        // As etcd: a txn of ranges only is served here, after the read barrier unless all its
        // ranges are serializable, at one pinned revision; it takes no log slot.
        if (!isTxnSerializable(req)) await m.consensus.readBarrier();
        checkTxn(m.auth, m.identity.authInfo(call.metadata) ?? anonymous, m.lessor, req);
        const resp = await applyTxn(m.store.readView(), req);
        m.counters.countTxn(req, resp);
        resp.header = m.header(resp.header?.revision ?? m.store.currentRev());
        return resp;
      }
      return (await m.proposeFull({ txn: req }, who(call))).resp as etcdserverpb.TxnResponse;
    }),
    compact: unary(async (req: etcdserverpb.CompactionRequest, call) => {
      const { resp, compacted } = await m.proposeFull({ compaction: req }, who(call));
      if (req.physical && compacted) await compacted;
      return resp as etcdserverpb.CompactionResponse;
    }),
  };
}
