// Helpers for the quota and disk-full tests: put random 1 KiB values until the member refuses.
import { etcdserverpb } from '@kv/api';
import type { ServiceError } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { call, type Harness } from './harness.js';

export interface FillResult {
  /** Bytes of keys and values accepted. */
  accepted: number;
  puts: number;
  /** The error that stopped the fill (undefined: the limit was reached first). */
  err?: ServiceError;
}

/** Puts 1 KiB random values, `parallel` at a time, until one fails or `limitBytes` went in. */
export async function fillWithPuts(h: Harness, prefix: string, limitBytes: number, parallel = 16): Promise<FillResult> {
  let accepted = 0;
  let puts = 0;
  while (accepted < limitBytes) {
    const batch: Promise<unknown>[] = [];
    for (let j = 0; j < parallel; j++) {
      const key = Buffer.from(`${prefix}${String(puts + j).padStart(8, '0')}`);
      const value = randomBytes(1024);
      batch.push(
        call(h.kv, 'put', etcdserverpb.PutRequest.fromPartial({ key, value })).then(() => {
          accepted += key.length + value.length;
        }),
      );
    }
    const settled = await Promise.allSettled(batch);
    puts += parallel;
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) return { accepted, puts, err: failed.reason as ServiceError };
  }
  return { accepted, puts };
}
