// KV service: request checks as etcd's v3rpc/key.go (from @kv/mvcc's request layer), then reads locally (after the read barrier
// for linearizable ones) — ranges and read-only txns — and writes through consensus.
import { etcdserverpb } from '@kv/api';
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
import type { Member } from '../member.js';
import { unary } from './unary.js';

export function kvService(m: Member): etcdserverpb.KVServer {
  return {
    range: unary(async (req: etcdserverpb.RangeRequest) => {
      checkRangeRequest(req);
      if (!req.serializable) await m.consensus.readBarrier();
      const resp = await applyRange(m.store, req);
      resp.header = m.header(resp.header?.revision ?? m.store.currentRev());
      return resp;
    }),
    put: unary(async (req: etcdserverpb.PutRequest) => {
      checkPutRequest(req);
      return (await m.propose({ put: req })) as etcdserverpb.PutResponse;
    }),
    deleteRange: unary(async (req: etcdserverpb.DeleteRangeRequest) => {
      checkDeleteRequest(req);
      return (await m.propose({ deleteRange: req })) as etcdserverpb.DeleteRangeResponse;
    }),
    txn: unary(async (req: etcdserverpb.TxnRequest) => {
      checkTxnRequest(req, m.config.maxTxnOps);
      if (isTxnReadonly(req)) {
        // As etcd: a txn of ranges only is served here, after the read barrier unless all its
        // ranges are serializable, at one pinned revision; it takes no log slot.
        if (!isTxnSerializable(req)) await m.consensus.readBarrier();
        const resp = await applyTxn(m.store.readView(), req);
        resp.header = m.header(resp.header?.revision ?? m.store.currentRev());
        return resp;
      }
      return (await m.propose({ txn: req })) as etcdserverpb.TxnResponse;
    }),
    compact: unary(async (req: etcdserverpb.CompactionRequest) => {
      const { resp, compacted } = await m.proposeFull({ compaction: req });
      if (req.physical && compacted) await compacted;
      return resp as etcdserverpb.CompactionResponse;
    }),
  };
}
