// snapshot save | status | restore, as etcdctl 3.4 (ctlv3/command/snapshot_command.go over
// clientv3/snapshot): the same arguments, flags, defaults, output, errors and exit codes. Restore
// and status are @kv/server's (restoreSnapshot, snapshotStatus), as etcdctl's are etcd's snapshot
// package. Log lines go to stderr as JSON (etcdctl logs through zap); a progress bar is drawn on
// stderr only when it is a terminal (progress.ts), so piped output is etcdctl's byte for byte.
import type { Command } from 'commander';
import { createHash } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { ConfigError, RestoreError, SnapshotFileError, restoreSnapshot, snapshotStatus, type SnapshotStatus } from '@kv/server';
import { CtlExit, ExitCode } from '../exit.js';
import { errText } from '../errtext.js';
import { goHex, humanizeBytes } from '../gofmt.js';
import type { Body } from '../cli.js';
import type { Ctx } from '../globals.js';
import { renderTable } from '../printers/index.js';
import { progressBar } from '../progress.js';

/** etcdctl's snapshot restore flags (and their defaults). */
export interface RestoreFlags {
  dataDir: string;
  walDir: string;
  initialCluster: string;
  initialClusterToken: string;
  initialAdvertisePeerUrls: string;
  name: string;
  skipHashCheck: boolean;
}

export const restoreDefaults = {
  name: 'default',
  initialClusterToken: 'etcd-cluster',
  initialAdvertisePeerUrls: 'http://localhost:2380',
} as const;

/** etcdctl's initialClusterFromName. */
export function initialClusterFromName(name: string): string {
  return `${name === '' ? 'default' : name}=http://localhost:2380`;
}

/** A zap-style JSON log line on stderr (level, ts in seconds, msg, fields). */
function logLine(ctx: Ctx, msg: string, fields: Record<string, unknown> = {}): void {
  ctx.io.stderr.write(`${JSON.stringify({ level: 'info', ts: Date.now() / 1000, msg, ...fields })}\n`);
}

/** Go's %v of a []string: "[a b]". */
const goList = (xs: readonly string[]) => `[${xs.join(' ')}]`;

const SHA256_BYTES = 32;
/** etcd's hasChecksum: the stream is whole 512-byte sectors of bbolt pages, then the sha256. */
const hasChecksum = (n: number) => n % 512 === SHA256_BYTES;

/**
 * `snapshot save <file>`: the member's snapshot stream into `<file>.part` (0600), checked (a
 * sha256 trailer that matches the bytes before it), fsynced, renamed to `<file>`. The .part file
 * never outlives the command. No deadline unless --command-timeout was given (as etcdctl).
 */
export async function snapshotSave(ctx: Ctx, args: string[]): Promise<void> {
  if (args.length !== 1) throw new CtlExit(ExitCode.BadArgs, 'snapshot save expects one argument');
  const path = args[0]!;
  const eps = ctx.globals.endpoints;
  const fail = (msg: string) => new CtlExit(ExitCode.Interrupted, msg);
  if (eps.length !== 1) throw fail(`snapshot must be requested to one selected node, not multiple ${goList(eps)}`);
  const client = ctx.client();
  const partPath = `${path}.part`;
  let fh;
  try {
    fh = await open(partPath, 'w', 0o600);
  } catch (e) {
    throw fail(`could not open ${partPath} (${errText(e)})`);
  }
  logLine(ctx, 'created temporary db file', { path: partPath });
  const bar = progressBar(ctx.io, 'snapshot save', 'bytes');
  const started = Date.now();
  try {
    logLine(ctx, 'fetching snapshot', { endpoint: eps[0] });
    const timeoutMs = ctx.globals.explicit.has('command-timeout') ? ctx.commandTimeoutMs : undefined;
    // The trailer is the sha256 of everything before it: hash all but the newest 32 bytes.
    const sha = createHash('sha256');
    let held: Buffer = Buffer.alloc(0);
    let size = 0;
    // Without --command-timeout there is no deadline, but (as etcdctl's dial) the member must
    // answer within --dial-timeout: until the first response, an AbortController bounds the wait.
    const dial = new AbortController();
    let answered = false;
    const dialMs = Number(ctx.globals.dialTimeoutNs / 1_000_000n);
    const dialTimer = setTimeout(() => {
      if (!answered) dial.abort();
    }, dialMs);
    try {
      for await (const chunk of client.maintenance.snapshot({
        timeoutMs,
        signal: dial.signal,
        onProgress: (done, total) => {
          answered = true;
          bar.update(done, total);
        },
      })) {
        await fh.write(chunk, 0, chunk.length, size);
        size += chunk.length;
        const both = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
        const cut = Math.max(0, both.length - SHA256_BYTES);
        sha.update(both.subarray(0, cut));
        held = Buffer.from(both.subarray(cut));
      }
    } catch (e) {
      throw fail(dial.signal.aborted && !answered ? 'context deadline exceeded' : errText(e));
    } finally {
      clearTimeout(dialTimer);
    }
    bar.stop();
    if (!hasChecksum(size)) throw fail(`sha256 checksum not found [bytes: ${size}]`);
    const got = sha.digest();
    if (!got.equals(held)) {
      throw fail(`snapshot stream is damaged: its sha256 trailer ${held.toString('hex')} does not match its data (${got.toString('hex')})`);
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    logLine(ctx, 'fetched snapshot', { endpoint: eps[0], size: humanizeBytes(size), took: (Date.now() - started) / 1000 });
    try {
      await rename(partPath, path);
    } catch (e) {
      throw fail(`could not rename ${partPath} to ${path} (${errText(e)})`);
    }
    logLine(ctx, 'saved', { path });
  } finally {
    bar.stop();
    await fh?.close().catch(() => undefined);
    await rm(partPath, { force: true });
  }
  ctx.out.println(`Snapshot saved at ${path}`);
}

/** etcdctl's DBStatus printers (simple, table, json, fields; protobuf is refused). */
function printStatus(ctx: Ctx, ds: SnapshotStatus): void {
  const row = [goHex(ds.hash), String(ds.revision), String(ds.totalKey), humanizeBytes(ds.totalSize)];
  switch (ctx.globals.writeOut) {
    case 'simple':
      ctx.out.println(row.join(', '));
      return;
    case 'table':
      ctx.out.print(renderTable(['hash', 'revision', 'total keys', 'total size'], [row]));
      return;
    case 'json':
      ctx.out.println(`{"hash":${ds.hash},"revision":${ds.revision},"totalKey":${ds.totalKey},"totalSize":${ds.totalSize}}`);
      return;
    case 'fields':
      ctx.out.println('"Hash" :', ds.hash);
      ctx.out.println('"Revision" :', ds.revision);
      ctx.out.println('"Keys" :', ds.totalKey);
      ctx.out.println('"Size" :', ds.totalSize);
      return;
    default:
      throw new CtlExit(ExitCode.BadFeature, `${ctx.globals.writeOut} not supported as output format`);
  }
}

/** `snapshot status <file>`: hash, revision, total keys and size of a snapshot file. */
export async function snapshotStatusCommand(ctx: Ctx, args: string[]): Promise<void> {
  if (args.length !== 1) throw new CtlExit(ExitCode.BadArgs, 'snapshot status requires exactly one argument');
  void ctx.display; // etcdctl's initDisplayFromCmd: an unknown -w fails first
  let ds: SnapshotStatus;
  try {
    ds = await snapshotStatus(args[0]!);
  } catch (e) {
    throw new CtlExit(ExitCode.Error, errText(e));
  }
  printStatus(ctx, ds);
}

/** `snapshot restore <file>`: a data dir for a member of a new cluster (@kv/server's restoreSnapshot). */
export async function snapshotRestore(ctx: Ctx, args: string[], f: RestoreFlags): Promise<void> {
  if (args.length !== 1) throw new CtlExit(ExitCode.BadArgs, 'snapshot restore requires exactly one argument');
  const bars = { verify: progressBar(ctx.io, 'verifying', 'bytes'), copy: progressBar(ctx.io, 'restoring', 'records') };
  try {
    await restoreSnapshot({
      snapshotPath: args[0]!,
      name: f.name,
      dataDir: f.dataDir,
      walDir: f.walDir,
      initialCluster: f.initialCluster,
      initialClusterToken: f.initialClusterToken,
      initialAdvertisePeerUrls: f.initialAdvertisePeerUrls.split(','),
      skipHashCheck: f.skipHashCheck,
      onProgress: (p) => {
        if (p.phase === 'copy') bars.verify.stop();
        bars[p.phase].update(p.done, p.total);
      },
      log: (msg, fields) => {
        // A log line goes below a finished bar, not through a drawn one.
        bars.verify.stop();
        bars.copy.stop();
        logLine(ctx, msg, fields);
      },
    });
  } catch (e) {
    if (e instanceof RestoreError || e instanceof SnapshotFileError || e instanceof ConfigError)
      throw new CtlExit(ExitCode.Error, e.message);
    throw new CtlExit(ExitCode.Error, errText(e));
  } finally {
    bars.verify.stop();
    bars.copy.stop();
  }
}

/** Registers `snapshot save|status|restore` under `program` (cli.ts's `act` attaches the bodies). */
export function addSnapshotCommands(program: Command, act: (cmd: Command, body: Body) => Command): void {
  const snapshot = program.command('snapshot').description('Manages etcd node snapshots');
  act(snapshot.command('save').description('Stores an etcd node backend snapshot to a given file'), (ctx, args) => snapshotSave(ctx, args));
  act(snapshot.command('status').description('Gets backend snapshot status of a given file'), (ctx, args) =>
    snapshotStatusCommand(ctx, args),
  );
  act(
    snapshot
      .command('restore')
      .description('Restores an etcd member snapshot to an etcd directory')
      .option('--data-dir <path>', 'Path to the data directory', '')
      .option('--wal-dir <path>', 'Path to the WAL directory (use --data-dir if none given)', '')
      .option(
        '--initial-cluster <value>',
        'Initial cluster configuration for restore bootstrap',
        initialClusterFromName(restoreDefaults.name),
      )
      .option(
        '--initial-cluster-token <value>',
        'Initial cluster token for the etcd cluster during restore bootstrap',
        restoreDefaults.initialClusterToken,
      )
      .option(
        '--initial-advertise-peer-urls <urls>',
        "List of this member's peer URLs to advertise to the rest of the cluster",
        restoreDefaults.initialAdvertisePeerUrls,
      )
      .option('--name <name>', 'Human-readable name for this member', restoreDefaults.name)
      .option('--skip-hash-check', 'Ignore snapshot integrity hash value (required if copied from data directory)', false),
    (ctx, args, o) => snapshotRestore(ctx, args, o as unknown as RestoreFlags),
  );
}
