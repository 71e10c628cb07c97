// Free TCP ports on loopback, held until the process that needs them is about to bind them.
//
// A port is reserved by actually listening on it (port 0: the kernel picks a free one), so no
// other process — nor another reservation in this one — can take it while it is held. The
// launcher releases it right before it spawns the child that binds it.
//
// The race that remains: between release() and the child's bind (a few milliseconds, the child's
// start-up), another process on the machine may bind the same port, typically an outgoing
// connection handed that ephemeral port by the kernel. A listener cannot be passed to a child that
// binds its own URL from a flag, so the window cannot be closed from here; instead a child that
// fails with EADDRINUSE is started again on fresh ports (`withFreshPorts`).
import { createServer, type Server } from 'node:net';

export interface HeldPorts {
  /** The reserved ports, distinct. */
  readonly ports: readonly number[];
  /** Stop listening on every port (idempotent); call right before the child binds them. */
  release(): Promise<void>;
}

function listen(host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    // A holder accepts nothing: a peer that dials the port early (a member told about a new
    // member's URL before it runs) must not keep a connection to the holder past the release.
    const srv = createServer((socket) => socket.destroy());
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host, port: 0, exclusive: true }, () => resolve(srv));
  });
}

function close(srv: Server): Promise<void> {
  return new Promise((resolve) => srv.close(() => resolve()));
}

/** Reserve `n` distinct ports on `host` by listening on each; they stay held until release(). */
export async function holdPorts(n: number, host = '127.0.0.1'): Promise<HeldPorts> {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`port count must be a non-negative integer, got ${n}`);
  const servers: Server[] = [];
  try {
    // Invariant: all n listeners are open at once, so the kernel cannot hand out one port twice.
    for (let i = 0; i < n; i++) servers.push(await listen(host));
  } catch (err) {
    await Promise.all(servers.map(close));
    throw err;
  }
  const ports = servers.map((s) => {
    const a = s.address();
    if (a === null || typeof a === 'string') throw new Error('could not read the bound port');
    return a.port;
  });
  let released: Promise<void> | undefined;
  return { ports, release: () => (released ??= Promise.all(servers.map(close)).then(() => undefined)) };
}

/**
 * A port that was free a moment ago, released at once: only for a caller that binds it itself
 * right away (a test's own listener). Launchers use holdPorts / withFreshPorts.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const held = await holdPorts(1, host);
  await held.release();
  return held.ports[0]!;
}

/** `n` distinct ports that were free a moment ago (held together, then released). */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const held = await holdPorts(n, host);
  await held.release();
  return [...held.ports];
}

/** Whether an error text says a port was taken (Node's EADDRINUSE, Go's "address already in use"). */
export function isAddrInUse(text: string): boolean {
  return /EADDRINUSE|address already in use/i.test(text);
}

export interface FreshPortsOptions {
  /** Attempts in all (default 3). */
  attempts?: number;
  host?: string;
}

/**
 * Runs `start` with `n` held ports; `start` calls `release` right before it spawns the process
 * that binds them. When `start` fails and its error says a port was taken (the race above), it
 * runs again on fresh ports, up to `attempts` times. The ports are released in every case.
 */
export async function withFreshPorts<T>(
  n: number,
  start: (ports: readonly number[], release: () => Promise<void>) => Promise<T>,
  opts: FreshPortsOptions = {},
): Promise<T> {
  const attempts = opts.attempts ?? 3;
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    const held = await holdPorts(n, opts.host);
    try {
      return await start(held.ports, held.release);
    } catch (err) {
      last = err;
      if (!isAddrInUse(err instanceof Error ? err.message : String(err))) throw err;
    } finally {
      await held.release();
    }
  }
  throw last;
}
