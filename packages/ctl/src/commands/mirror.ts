// make-mirror (etcdctl 3.4's make_mirror_command.go over clientv3/mirror): copy the keys under
// --prefix at one revision, in pages of 1000, then apply every later change in revision order,
// each revision's changes in one destination txn. Prints how many keys it synced every 30 s.
// Never ends by itself: it stops on an error (a compacted watch included).
import { Client, CompactedError, Op, prefixEnd, type ClientOptions } from '@kv/client';
import { mvccpb, type etcdserverpb } from '@kv/api';
import { CtlExit, ExitCode } from '../exit.js';
import { errText } from '../errtext.js';
import { readTlsFile, type Ctx } from '../globals.js';
import { startProgress } from '../progress.js';

export interface MirrorFlags {
  prefix: string;
  destPrefix: string;
  noDestPrefix?: boolean;
  destCert: string;
  destKey: string;
  destCacert: string;
  destInsecureTransport: boolean;
}

const PAGE = 1000n;

/**
 * strings.Replace(key, from, to, 1) on bytes: the first occurrence of `from` becomes `to` (an
 * empty `from` matches at the start).
 */
export function replacePrefixOnce(key: Buffer, from: Buffer, to: Buffer): Buffer {
  const i = key.indexOf(from);
  if (i < 0) return key;
  return Buffer.concat([key.subarray(0, i), to, key.subarray(i + from.length)]);
}

function destOptions(ctx: Ctx, endpoint: string, f: MirrorFlags): ClientOptions {
  const opts: ClientOptions = { endpoints: [endpoint], dialTimeoutMs: Number(ctx.globals.dialTimeoutNs / 1_000_000n) };
  const read = readTlsFile;
  if (f.destCert || f.destKey || f.destCacert || !f.destInsecureTransport || endpoint.startsWith('https://')) {
    opts.tls = {
      ...(f.destCacert ? { ca: read(f.destCacert) } : {}),
      ...(f.destCert ? { cert: read(f.destCert) } : {}),
      ...(f.destKey ? { key: read(f.destKey) } : {}),
    };
  }
  return opts;
}

export async function makeMirror(ctx: Ctx, args: string[], f: MirrorFlags, opts: { reportEveryMs?: number } = {}): Promise<void> {
  if (args.length !== 1) throw new CtlExit(ExitCode.BadArgs, 'make-mirror takes one destination argument');
  const dest = new Client(destOptions(ctx, args[0]!, f));
  const src = ctx.client();
  if (f.noDestPrefix && f.destPrefix.length > 0) {
    dest.close();
    throw new CtlExit(ExitCode.BadArgs, '`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one');
  }
  const from = Buffer.from(f.prefix, 'utf8');
  const to = Buffer.from(!f.noDestPrefix && f.destPrefix.length === 0 ? f.prefix : f.destPrefix, 'utf8');
  const rename = (k: Buffer) => replacePrefixOnce(k, from, to);

  let total = 0;
  const bar = startProgress(ctx.io, 0, 'Mirrored keys');
  const report = setInterval(() => ctx.out.println(total), opts.reportEveryMs ?? 30_000);
  const counted = (n = 1) => {
    total += n;
    bar.update(total);
  };
  try {
    // The revision to copy at: the source's current one.
    const rev = (await src.get('foo')).header!.revision;
    let key = f.prefix.length === 0 ? Buffer.from([0]) : from;
    for (;;) {
      const page: etcdserverpb.RangeResponse =
        f.prefix.length === 0
          ? await src.getFromKey(key, { limit: PAGE, revision: rev })
          : await src.getRange(key, prefixEnd(from), { limit: PAGE, revision: rev });
      for (const kv of page.kvs) {
        await dest.put(rename(kv.key), kv.value);
        counted();
      }
      if (!page.more || page.kvs.length === 0) break;
      key = Buffer.concat([page.kvs[page.kvs.length - 1]!.key, Buffer.from([0])]);
    }
    const w = src.watch(f.prefix, { prefix: true, startRevision: rev + 1n });
    for await (const wr of w) {
      // Events of one revision go in one txn; a response may carry several revisions.
      let ops: etcdserverpb.RequestOp[] = [];
      let lastRev = 0n;
      for (const ev of wr.events) {
        const kv = ev.kv!;
        if (lastRev !== 0n && kv.modRevision > lastRev) {
          await dest
            .txn()
            .then(...ops)
            .commit();
          ops = [];
        }
        lastRev = kv.modRevision;
        ops.push(ev.type === mvccpb.Event_EventType.DELETE ? Op.delete(rename(kv.key)) : Op.put(rename(kv.key), kv.value));
        counted();
      }
      if (ops.length > 0)
        await dest
          .txn()
          .then(...ops)
          .commit();
    }
    // The watch ended without an error (etcdctl then reports a nil error).
    throw new CtlExit(ExitCode.Error, '<nil>');
  } catch (e) {
    if (e instanceof CtlExit) throw e;
    if (e instanceof CompactedError) throw new CtlExit(ExitCode.Error, 'etcdserver: mvcc: required revision has been compacted');
    throw new CtlExit(ExitCode.Error, errText(e));
  } finally {
    clearInterval(report);
    bar.stop();
    dest.close();
  }
}
