// Runs one workload: opens the connections, prepares data, warms up, then drives `clients`
// concurrent request loops until --total requests or --duration, timing each request.
import { Client, Op, type ClientOptions } from '@kv/client';
import { makeKey, makeValue, prng, readStamp, stampValue } from './keys.js';
import { LatencyRecorder, type LatencySummary } from './latency.js';
import type { BenchOptions } from './options.js';

export interface WatchStats {
  /** Events received by all watchers in the measured phase. */
  events: number;
  /** puts × watchers. */
  expectedEvents: number;
  putsPerSec: number;
  /** Latency of the puts themselves (the event latency includes it). */
  putLatency: LatencySummary;
}

export interface BenchResult {
  /** "put", "range (linearizable)", "range (serializable)", "txn", "watch". */
  label: string;
  options: BenchOptions;
  /** Measured requests that succeeded (puts for watch). */
  requests: number;
  errors: number;
  firstError?: string;
  /** Set when the run stopped early because requests kept failing. */
  aborted?: string;
  elapsedMs: number;
  /** Requests per second; for watch, events delivered per second. */
  throughput: number;
  unit: 'req/s' | 'events/s';
  /** Request latency; for watch, put-to-receipt latency of each event. */
  latency: LatencySummary;
  watch?: WatchStats;
  /** txn-cas: measured updates whose compare failed (the key changed between get and txn). */
  conflicts?: number;
}

export function workloadLabel(o: Pick<BenchOptions, 'workload' | 'consistency'>): string {
  return o.workload === 'range' ? `range (${o.consistency})` : o.workload;
}

/** A run stops early after this many failures once they outnumber successes. */
const MAX_ERRORS = 100;
/** Prefill batch: puts per txn (below etcd's default --max-txn-ops of 128). */
const PREFILL_BATCH = 100;

const now = () => process.hrtime.bigint();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One Client per connection, each starting on a different endpoint. */
export function openConnections(o: Pick<BenchOptions, 'endpoints' | 'conns' | 'requestTimeoutMs' | 'auth'>): Client[] {
  return Array.from({ length: o.conns }, (_, i) => {
    const endpoints = [...o.endpoints.slice(i % o.endpoints.length), ...o.endpoints.slice(0, i % o.endpoints.length)];
    // grpc-js shares one TCP connection among channels with equal settings (its global subchannel
    // pool); a local pool per channel gives each Client its own connection, as --conns promises.
    // Connections reads `channelOptions` though ClientOptions does not declare it yet.
    const opts: ClientOptions & { channelOptions: Record<string, number> } = {
      endpoints,
      dialTimeoutMs: 5000,
      requestTimeoutMs: o.requestTimeoutMs,
      channelOptions: { 'grpc.use_local_subchannel_pool': 1 },
      ...(o.auth ? { auth: o.auth } : {}),
    };
    return new Client(opts);
  });
}

interface LoopStats {
  ok: number;
  errors: number;
  firstError?: string;
  aborted?: string;
  elapsedNs: bigint;
}

/**
 * `workers` loops calling `op(worker)` until `count` calls have been claimed (or, with
 * `durationMs`, until it has passed), timing each successful call into `rec`.
 */
async function loop(
  workers: number,
  count: number,
  durationMs: number | undefined,
  ratePerSec: number,
  op: (worker: number) => Promise<void>,
  rec: LatencyRecorder | undefined,
): Promise<LoopStats> {
  const stats: LoopStats = { ok: 0, errors: 0, elapsedNs: 0n };
  const start = now();
  const deadline = durationMs === undefined ? undefined : start + BigInt(durationMs) * 1_000_000n;
  const intervalNs = ratePerSec > 0 ? 1e9 / ratePerSec : 0;
  let claimed = 0;
  /** The index of the next request to issue, or -1 when the run is over. */
  const claim = () => {
    if (stats.aborted) return -1;
    if (deadline !== undefined ? now() >= deadline : claimed >= count) return -1;
    return claimed++;
  };
  const worker = async (w: number) => {
    for (let i = claim(); i >= 0; i = claim()) {
      if (intervalNs > 0) {
        // Open-loop pacing: request i is due at start + i/rate, whichever worker sends it.
        const waitMs = (Number(start - now()) + i * intervalNs) / 1e6;
        if (waitMs > 0) await sleep(waitMs);
      }
      const t0 = now();
      try {
        await op(w);
        rec?.recordNs(now() - t0);
        stats.ok++;
      } catch (e) {
        stats.errors++;
        stats.firstError ??= (e as Error)?.message ?? String(e);
        if (stats.errors >= MAX_ERRORS && stats.errors > stats.ok) stats.aborted = `${stats.errors} errors; first: ${stats.firstError}`;
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  stats.elapsedNs = now() - start;
  return stats;
}

/** Write every key of the key space once (ranges then always find a value). */
async function prefill(client: Client, o: BenchOptions, value: Buffer): Promise<void> {
  for (let start = 0; start < o.keySpace; start += PREFILL_BATCH) {
    const ops = [];
    for (let i = start; i < Math.min(start + PREFILL_BATCH, o.keySpace); i++) ops.push(Op.put(makeKey('k', i, o.keySize), value));
    await client
      .txn()
      .then(...ops)
      .commit();
  }
}

export async function runBenchmark(o: BenchOptions): Promise<BenchResult> {
  const clients = openConnections(o);
  try {
    return o.workload === 'watch' ? await runWatch(o, clients) : await runRequests(o, clients);
  } finally {
    for (const c of clients) c.close();
  }
}

async function runRequests(o: BenchOptions, clients: Client[]): Promise<BenchResult> {
  const value = makeValue(o.valSize);
  const rnds = Array.from({ length: o.clients }, (_, w) => prng(o.seed * 7919 + w));
  const key = (w: number) => makeKey('k', Math.floor(rnds[w]!() * o.keySpace), o.keySize);
  const client = (w: number) => clients[w % clients.length]!;
  // Always true (mod revisions stay far below 2^62), so every txn reads the key, compares and puts.
  const modCeiling = 1n << 62n;
  let conflicts = 0;
  const leases: bigint[] = [];
  let op: (w: number) => Promise<void>;
  switch (o.workload) {
    case 'put':
      op = async (w) => void (await client(w).put(key(w), value));
      break;
    case 'range':
      await prefill(clients[0]!, o, value);
      op = async (w) => void (await client(w).get(key(w), { serializable: o.consistency === 'serializable' }));
      break;
    case 'txn':
      op = async (w) => {
        const k = key(w);
        const r = await client(w).txn().if(k, 'mod', '<', modCeiling).then(Op.put(k, value)).commit();
        if (!r.succeeded) throw new Error('txn compare unexpectedly failed');
      };
      break;
    case 'txn-put':
      // txnOps consecutive keys (mod the key space) from a random one: distinct within the txn.
      op = async (w) => {
        const first = Math.floor(rnds[w]!() * o.keySpace);
        const ops = Array.from({ length: o.txnOps }, (_, j) => Op.put(makeKey('k', (first + j) % o.keySpace, o.keySize), value));
        await client(w)
          .txn()
          .then(...ops)
          .commit();
      };
      break;
    case 'txn-cas':
      // Kubernetes' optimistic update: read the key, then put only if its mod_revision is unchanged;
      // a failed compare is a conflict (counted, not an error).
      await prefill(clients[0]!, o, value);
      op = async (w) => {
        const k = key(w);
        const g = await client(w).get(k);
        const rev = g.kvs[0]?.modRevision ?? 0n;
        const r = await client(w).txn().if(k, 'mod', '=', rev).then(Op.put(k, value)).else(Op.get(k)).commit();
        if (!r.succeeded) conflicts++;
      };
      break;
    case 'lease-keepalive':
      // One lease per worker, granted before measuring; each request is one keep-alive round trip.
      for (let w = 0; w < o.clients; w++) leases.push((await client(w).lease.grant(100)).ID);
      op = async (w) => void (await client(w).lease.keepAliveOnce(leases[w]!));
      break;
    case 'watch':
      throw new Error('watch runs in runWatch');
  }
  if (o.warmup > 0) await loop(o.clients, o.warmup, undefined, 0, op, undefined);
  conflicts = 0;
  const rec = new LatencyRecorder();
  const s = await loop(o.clients, o.total, o.durationMs, o.rate, op, rec);
  await Promise.allSettled(leases.map((id, w) => client(w).lease.revoke(id)));
  const elapsedMs = Number(s.elapsedNs) / 1e6;
  const result: BenchResult = {
    label: workloadLabel(o),
    options: o,
    requests: s.ok,
    errors: s.errors,
    elapsedMs,
    throughput: elapsedMs > 0 ? (s.ok * 1000) / elapsedMs : 0,
    unit: 'req/s',
    latency: rec.summary(),
    ...(o.workload === 'txn-cas' ? { conflicts } : {}),
    ...(s.firstError !== undefined ? { firstError: s.firstError } : {}),
    ...(s.aborted !== undefined ? { aborted: s.aborted } : {}),
  };
  rec.destroy();
  return result;
}

/**
 * `watchers` watchers on the prefix "w"; `clients` loops put keys under it with their send time
 * in the value; each delivered event's latency is receipt time minus send time.
 */
async function runWatch(o: BenchOptions, clients: Client[]): Promise<BenchResult> {
  const base = makeValue(o.valSize);
  const rnds = Array.from({ length: o.clients }, (_, w) => prng(o.seed * 7919 + w));
  const eventLatency = new LatencyRecorder();
  const putLatency = new LatencyRecorder();
  let events = 0;
  let lastEventNs = 0n;

  const watchers = Array.from({ length: o.watchers }, (_, i) => clients[i % clients.length]!.watch('w', { prefix: true }));
  const consumers = watchers.map(async (w) => {
    for await (const resp of w) {
      const t = now();
      for (const ev of resp.events) {
        const sent = ev.kv ? readStamp(ev.kv.value) : undefined;
        // Warm-up puts carry stamp 0 and are not measured.
        if (sent === undefined || sent === 0n) continue;
        eventLatency.recordNs(t - sent);
        events++;
        lastEventNs = t;
      }
    }
  });
  // A consumer that fails (watch cancelled by the server) must not go unnoticed.
  const consumerErrors: string[] = [];
  for (const c of consumers) c.catch((e: unknown) => consumerErrors.push((e as Error)?.message ?? String(e)));
  try {
    await Promise.all(watchers.map((w) => w.created));
    let measuring = false;
    const op = async (w: number) => {
      const k = makeKey('w', Math.floor(rnds[w]!() * o.keySpace), o.keySize);
      await clients[w % clients.length]!.put(k, stampValue(base, measuring ? now() : 0n));
    };
    if (o.warmup > 0) await loop(o.clients, o.warmup, undefined, 0, op, undefined);
    measuring = true;
    const start = now();
    const s = await loop(o.clients, o.total, o.durationMs, o.rate, op, putLatency);
    const expectedEvents = s.ok * o.watchers;
    // Wait for the stragglers: bounded, and ended early when a watcher has failed.
    const until = Date.now() + 30_000;
    while (events < expectedEvents && Date.now() < until && consumerErrors.length === 0) await sleep(20);
    const elapsedMs = Number((lastEventNs > start ? lastEventNs : now()) - start) / 1e6;
    const putElapsedMs = Number(s.elapsedNs) / 1e6;
    const firstError = s.firstError ?? consumerErrors[0];
    const missing = expectedEvents - events;
    return {
      label: workloadLabel(o),
      options: o,
      requests: s.ok,
      errors: s.errors + consumerErrors.length,
      elapsedMs,
      throughput: elapsedMs > 0 ? (events * 1000) / elapsedMs : 0,
      unit: 'events/s',
      latency: eventLatency.summary(),
      watch: {
        events,
        expectedEvents,
        putsPerSec: putElapsedMs > 0 ? (s.ok * 1000) / putElapsedMs : 0,
        putLatency: putLatency.summary(),
      },
      ...(firstError !== undefined ? { firstError } : {}),
      ...(s.aborted !== undefined
        ? { aborted: s.aborted }
        : missing > 0
          ? { aborted: `${missing} of ${expectedEvents} events not delivered within 30 s` }
          : {}),
    };
  } finally {
    for (const w of watchers) w.cancel();
    await Promise.allSettled(consumers);
    eventLatency.destroy();
    putLatency.destroy();
  }
}
