/**
 * Errors of the KV layer. Every one carries `name`, the key of its etcd
 * error in @kv/api's ErrorText/ErrorCode tables, so the server maps any of
 * them to gRPC with `ErrorCode[e.name]` and `ErrorText[e.name]`.
 */
import { type EtcdErrorName, ErrorText } from '@kv/api';

export class KvError extends Error {
  override readonly name: EtcdErrorName;

  constructor(name: EtcdErrorName, message: string = ErrorText[name]) {
    super(message);
    this.name = name;
  }
}

/** mvcc.ErrCompacted: the requested revision is older than the compaction revision. */
export class CompactedError extends KvError {
  constructor() {
    super('Compacted', 'mvcc: required revision has been compacted');
  }
}

/** mvcc.ErrFutureRev: the requested revision is newer than the current revision. */
export class FutureRevError extends KvError {
  constructor() {
    super('FutureRev', 'mvcc: required revision is a future revision');
  }
}
