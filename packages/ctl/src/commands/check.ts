// check perf | datascale (etcdctl 3.4's check.go): a fixed write load from many clients, then
// etcdctl's PASS/FAIL verdicts. The statistics are etcd's pkg/report ones (rate over the whole
// run, slowest request, population standard deviation of the latencies, errors by message).
import { randomBytes } from 'node:crypto';
import type { Client } from '@kv/client';
import { CtlExit, ExitCode } from '../exit.js';
import { errText } from '../errtext.js';
import { goQuote } from '../gofmt.js';
import type { Ctx } from '../globals.js';
import { startProgress, type Progress } from '../progress.js';

interface PerfModel {
  limit: number;
  clients: number;
  duration: number;
}

/** etcdctl's checkPerfCfgMap: writes/s, concurrent clients, seconds. */
export const perfModels: Record<string, PerfModel> = {
  s: { limit: 150, clients: 50, duration: 60 },
  m: { limit: 1000, clients: 200, duration: 60 },
  l: { limit: 8000, clients: 500, duration: 60 },
  xl: { limit: 15000, clients: 1000, duration: 60 },
};

interface DatascaleModel {
  limit: number;
  kvSize: number;
  clients: number;
}

export const datascaleModels: Record<string, DatascaleModel> = {
  s: { limit: 10000, kvSize: 1024, clients: 50 },
  m: { limit: 100000, kvSize: 1024, clients: 200 },
  l: { limit: 1000000, kvSize: 1024, clients: 500 },
  xl: { limit: 3000000, kvSize: 1024, clients: 1000 },
};

const aliases: Record<string, string> = { s: 's', small: 's', m: 'm', medium: 'm', l: 'l', large: 'l', xl: 'xl', xLarge: 'xl' };

function modelName(load: string): string {
  const m = aliases[load];
  if (m === undefined) throw new CtlExit(ExitCode.BadFeature, `unknown load option ${load}`);
  return m;
}

export interface CheckFlags {
  load: string;
  prefix: string;
  autoCompact?: boolean;
  autoDefrag?: boolean;
}

/** What the load is made of; injected so tests can pace and seed it. */
export interface LoadWorld {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** A uniformly random int63 (Go's rand.Int63n(MaxInt64)). */
  randomInt63(): bigint;
}

export const realLoadWorld: LoadWorld = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  randomInt63: () => randomBytes(8).readBigUInt64BE() >> 1n,
};

/** Go's binary.PutVarint (zig-zag, then base-128 groups) into the front of `buf`. */
export function putVarint(buf: Buffer, x: bigint): void {
  let ux = (x << 1n) & 0xffff_ffff_ffff_ffffn;
  if (x < 0n) ux = ~ux & 0xffff_ffff_ffff_ffffn;
  let i = 0;
  while (ux >= 0x80n) {
    buf[i++] = Number(ux & 0x7fn) | 0x80;
    ux >>= 7n;
  }
  buf[i] = Number(ux);
}

/** The write a check sends: prefix + a key-size buffer starting with a random varint. */
function randomKey(prefix: string, keySize: number, world: LoadWorld): Buffer {
  const k = Buffer.alloc(keySize);
  putVarint(k, world.randomInt63());
  return Buffer.concat([Buffer.from(prefix, 'utf8'), k]);
}

export interface Stats {
  /** Successful requests per second over the whole run. */
  rps: number;
  /** Seconds. */
  slowest: number;
  /** Seconds (population standard deviation). */
  stddev: number;
  /** Failed requests by error text. */
  errors: Map<string, number>;
}

/** pkg/report's statistics of latencies (seconds) over a run of `totalSec`. */
export function summarize(lats: number[], errors: Map<string, number>, totalSec: number): Stats {
  const n = lats.length;
  const avg = n === 0 ? NaN : lats.reduce((a, b) => a + b, 0) / n;
  let dev = 0;
  let slowest = 0;
  for (const l of lats) {
    dev += (l - avg) * (l - avg);
    if (l > slowest) slowest = l;
  }
  return { rps: n / totalSec, slowest, stddev: Math.sqrt(dev / n), errors };
}

/**
 * Runs puts from `clients` workers fed through a queue of `clients` slots (etcdctl's buffered
 * channel), `produce` deciding when each next request is due; resolves with the statistics.
 */
async function runLoad(
  clients: Client[],
  produce: (push: (key: Buffer) => Promise<void>) => Promise<void>,
  value: Buffer,
  world: LoadWorld,
  onDone: () => void,
): Promise<Stats> {
  const queue: Buffer[] = [];
  const waitingWorkers: ((k: Buffer | undefined) => void)[] = [];
  const waitingProducer: (() => void)[] = [];
  let closed = false;
  const push = async (key: Buffer): Promise<void> => {
    const w = waitingWorkers.shift();
    if (w) return w(key);
    while (queue.length >= clients.length) await new Promise<void>((r) => waitingProducer.push(r));
    queue.push(key);
  };
  const pull = (): Promise<Buffer | undefined> => {
    const k = queue.shift();
    if (k !== undefined) {
      waitingProducer.shift()?.();
      return Promise.resolve(k);
    }
    if (closed) return Promise.resolve(undefined);
    return new Promise((r) => waitingWorkers.push(r));
  };
  const lats: number[] = [];
  const errors = new Map<string, number>();
  const start = world.now();
  const workers = clients.map(async (c) => {
    for (;;) {
      const key = await pull();
      if (key === undefined) return;
      const st = world.now();
      try {
        await c.put(key, value);
        lats.push((world.now() - st) / 1000);
      } catch (e) {
        const t = errText(e);
        errors.set(t, (errors.get(t) ?? 0) + 1);
      }
      onDone();
    }
  });
  await produce(push);
  closed = true;
  for (const w of waitingWorkers.splice(0)) w(undefined);
  await Promise.all(workers);
  return summarize(lats, errors, (world.now() - start) / 1000);
}

/** Fails unless `prefix` is empty of keys (etcdctl's guard against clobbering data). */
async function requireEmptyPrefix(c: Client, prefix: string, timeoutMs?: number): Promise<void> {
  let n: number;
  try {
    n = (await c.getPrefix(prefix, { limit: 1, ...(timeoutMs ? { timeoutMs } : {}) })).kvs.length;
  } catch (e) {
    throw new CtlExit(ExitCode.Error, errText(e));
  }
  if (n > 0)
    throw new CtlExit(ExitCode.InvalidInput, `prefix ${goQuote(prefix)} has keys. Delete with etcdctl del --prefix ${prefix} first`);
}

/** Deletes the check's keys, then --auto-compact / --auto-defrag as etcdctl's util.go does. */
async function cleanUp(ctx: Ctx, c: Client, prefix: string, f: CheckFlags, timeoutMs?: number): Promise<void> {
  let rev: bigint;
  try {
    rev = (await c.delete(prefix, { prefix: true, ...(timeoutMs ? { timeoutMs } : {}) })).header?.revision ?? 0n;
  } catch (e) {
    throw new CtlExit(ExitCode.Error, errText(e));
  }
  if (f.autoCompact) {
    ctx.out.println(`Compacting with revision ${rev}`);
    try {
      await c.compact(rev, { physical: true, timeoutMs: 30_000 });
    } catch (e) {
      throw new CtlExit(ExitCode.Error, errText(e));
    }
    ctx.out.println(`Compacted with revision ${rev}`);
  }
  if (f.autoDefrag) {
    for (const ep of ctx.globals.endpoints) {
      ctx.out.println(`Defragmenting ${goQuote(ep)}`);
      try {
        await c.maintenance.defragment({ endpoint: ep, timeoutMs: 30_000 });
      } catch (e) {
        throw new CtlExit(ExitCode.Error, errText(e));
      }
      ctx.out.println(`Defragmented ${goQuote(ep)}`);
    }
  }
}

function reportErrors(ctx: Ctx, s: Stats): boolean {
  if (s.errors.size === 0) return false;
  ctx.out.println('FAIL: too many errors');
  for (const [k, v] of s.errors) ctx.out.println(`FAIL: ERROR(${k}) -> ${v}`);
  return true;
}

/** Go's %f: six decimals. */
const f6 = (x: number) => x.toFixed(6);

export async function checkPerf(ctx: Ctx, f: CheckFlags, world: LoadWorld = realLoadWorld): Promise<void> {
  const cfg = perfModels[modelName(f.load)]!;
  const clients = Array.from({ length: cfg.clients }, () => ctx.client());
  const first = clients[0]!;
  await requireEmptyPrefix(first, f.prefix, cfg.duration * 1000);
  const value = Buffer.alloc(1024);
  const bar: Progress = startProgress(ctx.io, cfg.duration, 'Checking performance');
  const ticker = setInterval(() => bar.increment(), 1000);
  let s: Stats;
  try {
    s = await runLoad(
      clients,
      async (push) => {
        // golang.org/x/time/rate with a burst of 1: one request every 1/limit s, the first at
        // once, none that would be due after the run's duration.
        const t0 = world.now();
        const end = t0 + cfg.duration * 1000;
        for (let i = 0; ; i++) {
          const due = t0 + (i * 1000) / cfg.limit;
          if (due > end) return;
          const wait = due - world.now();
          if (wait > 0) await world.sleep(wait);
          await push(randomKey(f.prefix, 256, world));
        }
      },
      value,
      world,
      () => undefined,
    );
  } finally {
    clearInterval(ticker);
    bar.update(cfg.duration);
    bar.stop();
  }
  await cleanUp(ctx, first, f.prefix, f, 30_000);

  let ok = !reportErrors(ctx, s);
  if (s.rps / cfg.limit <= 0.9) {
    ctx.out.println(`FAIL: Throughput too low: ${Math.trunc(s.rps) + 1} writes/s`);
    ok = false;
  } else {
    ctx.out.println(`PASS: Throughput is ${Math.trunc(s.rps) + 1} writes/s`);
  }
  if (s.slowest > 0.5) {
    ctx.out.println(`Slowest request took too long: ${f6(s.slowest)}s`);
    ok = false;
  } else {
    ctx.out.println(`PASS: Slowest request took ${f6(s.slowest)}s`);
  }
  if (s.stddev > 0.1) {
    ctx.out.println(`Stddev too high: ${f6(s.stddev)}s`);
    ok = false;
  } else {
    ctx.out.println(`PASS: Stddev is ${f6(s.stddev)}s`);
  }
  if (ok) {
    ctx.out.println('PASS');
    return;
  }
  ctx.out.println('FAIL');
  throw new CtlExit(ExitCode.Error, '', true);
}

/**
 * process_resident_memory_bytes from the member's /metrics, or 0 after printing why (etcdctl's
 * endpointMemoryMetrics, messages included).
 */
export async function residentMemory(ctx: Ctx, host: string): Promise<number> {
  const key = 'process_resident_memory_bytes';
  if (!host.startsWith('http://') && !host.startsWith('https://')) host = 'http://' + host;
  const url = host + '/metrics';
  let body: string;
  try {
    const res = await fetch(url);
    body = await res.text();
  } catch (e) {
    const cause = (e as { cause?: { message?: string } }).cause?.message;
    ctx.out.println(`fetch error: Get ${goQuote(url)}: ${cause ?? (e as Error).message}`);
    return 0;
  }
  let value = '';
  for (const line of body.split('\n')) {
    if (line.startsWith(key)) {
      value = line.slice(key.length).trim();
      break;
    }
  }
  if (value === '') {
    ctx.out.println(`could not find: ${key}`);
    return 0;
  }
  const n = Number(value);
  if (!Number.isFinite(n)) {
    ctx.out.println(`parse error: strconv.ParseFloat: parsing ${goQuote(value)}: invalid syntax`);
    return 0;
  }
  return n;
}

export async function checkDatascale(ctx: Ctx, f: CheckFlags, world: LoadWorld = realLoadWorld): Promise<void> {
  const cfg = datascaleModels[modelName(f.load)]!;
  const clients = Array.from({ length: cfg.clients }, () => ctx.client());
  const first = clients[0]!;
  await requireEmptyPrefix(first, f.prefix);
  const failMemory = (when: string): never => {
    ctx.out.println(`FAIL: Could not read process_resident_memory_bytes ${when} the put operations.`);
    throw new CtlExit(ExitCode.Error, '', true);
  };
  const ep = ctx.globals.endpoints[0] ?? '127.0.0.1:2379';
  const before = await residentMemory(ctx, ep);
  if (before === 0) failMemory('before');
  ctx.out.println(
    `Start data scale check for work load [${cfg.limit} key-value pairs, ${cfg.kvSize} bytes per key-value, ${cfg.clients} concurrent clients].`,
  );
  const bar = startProgress(ctx.io, cfg.limit, 'Writing');
  let s: Stats;
  try {
    s = await runLoad(
      clients,
      async (push) => {
        for (let i = 0; i < cfg.limit; i++) await push(randomKey(f.prefix, 512, world));
      },
      Buffer.alloc(512),
      world,
      () => bar.increment(),
    );
  } finally {
    bar.stop();
  }
  const after = await residentMemory(ctx, ep);
  if (after === 0) failMemory('after');
  await cleanUp(ctx, first, f.prefix, f);
  const mb = (after - before) / (1024 * 1024);
  if (reportErrors(ctx, s)) throw new CtlExit(ExitCode.Error, '', true);
  ctx.out.println(`PASS: Approximate system memory used : ${mb.toFixed(2)} MB.`);
}
