// The member's plain counters: incremented on the hot path (one property increment, no label
// lookup, no allocation) and read by the Prometheus collectors at scrape time (etcd_metrics.ts).
// They live as long as the member, so they never go backwards when its state is replaced by a
// received snapshot (a Prometheus counter must only grow).
import type { etcdserverpb } from '@kv/api';

/** etcd's warnApplyDuration: an entry that takes longer to apply counts as a slow apply. */
export const SlowApplyMs = 100;

export class MemberCounters {
  /** etcd_mvcc_put_total: puts applied by this member (inside txns too). */
  put = 0;
  /** etcd_mvcc_range_total: ranges served by this member (a txn's compares and ranges too). */
  range = 0;
  /** etcd_mvcc_delete_total: delete-ranges applied by this member (inside txns too). */
  deleteRange = 0;
  /** etcd_mvcc_txn_total: txns of more than one operation. */
  txn = 0;
  /** etcd_debugging_mvcc_total_put_size_in_bytes: key + value bytes of every put. */
  putBytes = 0;
  /** etcd_server_slow_apply_total: entries whose apply took longer than SlowApplyMs. */
  slowApply = 0;
  /** etcd_network_client_grpc_{sent,received}_bytes_total: gRPC message bytes to and from clients. */
  grpcSentBytes = 0;
  grpcReceivedBytes = 0;

  countPut(req: etcdserverpb.PutRequest): void {
    this.put++;
    this.putBytes += req.key.length + req.value.length;
  }

  /**
   * A txn as etcd's metricsTxnWrite counts it: every compare and range of the branches taken
   * is a range, every put a put, every delete a delete; the txn itself counts when it did more
   * than one of them.
   */
  countTxn(req: etcdserverpb.TxnRequest, resp: etcdserverpb.TxnResponse): void {
    const before = this.range + this.put + this.deleteRange;
    this.countTxnOps(req, resp);
    if (this.range + this.put + this.deleteRange - before > 1) this.txn++;
  }

  private countTxnOps(req: etcdserverpb.TxnRequest, resp: etcdserverpb.TxnResponse): void {
    this.range += req.compare.length;
    const ops = resp.succeeded ? req.success : req.failure;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.requestRange) this.range++;
      else if (op.requestPut) this.countPut(op.requestPut);
      else if (op.requestDeleteRange) this.deleteRange++;
      else if (op.requestTxn) {
        const nested = resp.responses[i]?.responseTxn;
        if (nested) this.countTxnOps(op.requestTxn, nested);
      }
    }
  }
}
