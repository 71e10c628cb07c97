// A simulated client process's connection to the cluster. Requests go through the services'
// implementation objects — the very objects grpc-js calls in kvd (kvService(m).range(call, cb),
// ...) — with a fake unary call carrying the request, or a fake duplex stream for Watch and
// LeaseKeepAlive. Between client and member the request and its answer are delayed on the
// virtual timeline; the request runs on the member's own timeline (so a paused member holds it,
// a crashed one drops it and the client's connection breaks).
//
// A client starts on one member and moves to the next on errors that say "this member cannot
// serve you" (down, no leader, timeout, stopped), as etcd's Go client does with all endpoints.
import { Metadata } from '@grpc/grpc-js';
import type { etcdserverpb } from '@kv/api';
import { EventEmitter } from 'node:events';
import type { SimRng } from './rng.js';
import type { Scheduler, SimClock } from './scheduler.js';

/** The service objects of one running member incarnation. */
export interface Services {
  kv: etcdserverpb.KVServer;
  lease: etcdserverpb.LeaseServer;
  watch: etcdserverpb.WatchServer;
  maintenance: etcdserverpb.MaintenanceServer;
}

/** A member as a client can reach it: its current incarnation's timeline and services, if up. */
export interface ClientTarget {
  name: string;
  /** undefined while the member is down (connection refused). */
  current(): { clock: SimClock; services: Services } | undefined;
}

/** An error as a client sees it: a gRPC status code and etcd's text. */
export class CallError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
    /** True when the request surely had no effect (it never reached a member). */
    readonly definite: boolean,
  ) {
    super(details);
  }
}

/** gRPC status codes used here. */
export const Code = { DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, FAILED_PRECONDITION: 9, UNAVAILABLE: 14, UNKNOWN: 2 } as const;

function asCallError(err: unknown): CallError {
  if (err instanceof CallError) return err;
  const e = err as { code?: unknown; details?: unknown; message?: unknown };
  const code = typeof e?.code === 'number' ? e.code : Code.UNKNOWN;
  const details = typeof e?.details === 'string' ? e.details : String(e?.message ?? err);
  return new CallError(code, details, false);
}

/** Errors after which a client tries another member (etcd's clientv3 retry/failover conditions). */
export function shouldFailover(e: CallError): boolean {
  return (
    e.code === Code.UNAVAILABLE ||
    e.code === Code.DEADLINE_EXCEEDED ||
    /no leader|request timed out|stopped|leader changed|not capable|connection/i.test(e.details)
  );
}

/** The sides of a fake gRPC duplex stream: the service's (`server`) and the client's. */
export class SimDuplex<Req, Res> extends EventEmitter {
  /** The call's metadata, as the service reads it (token, hasleader): none, as the sim's clients send none. */
  readonly metadata = new Metadata();
  writableEnded = false;
  destroyed = false;
  /** Client side: responses written by the service. */
  onResponse?: (r: Res) => void;
  onClose?: (err?: CallError) => void;

  constructor(private readonly deliver: (fn: () => void) => void) {
    super();
  }

  // --- what the service calls ---
  write(r: Res): boolean {
    if (this.writableEnded || this.destroyed) return false;
    this.deliver(() => this.onResponse?.(r));
    return true;
  }
  end(): void {
    if (this.writableEnded) return;
    this.writableEnded = true;
    this.deliver(() => this.closeOnce());
  }
  destroy(err?: unknown): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.writableEnded = true;
    const e = err === undefined ? new CallError(Code.UNAVAILABLE, 'stream closed by the server', false) : asCallError(err);
    this.deliver(() => this.closeOnce(e));
    this.emit('close');
  }

  private clientClosed = false;

  /** The client learns the stream ended (once). */
  closeOnce(err?: CallError): void {
    if (this.clientClosed) return;
    this.clientClosed = true;
    this.onClose?.(err);
  }

  // --- what the client calls (through the connection, on the member's timeline) ---
  push(req: Req): void {
    this.emit('data', req);
  }
}

type UnaryHandler<Req, Res> = (call: { request: Req; metadata: Metadata }, cb: (err: unknown, res?: Res) => void) => void;

export interface ConnOptions {
  /** Client ↔ member one-way delay, uniform in [min, max] ms. */
  minDelayMs: number;
  maxDelayMs: number;
}

export class ClientConn {
  private at: number;

  constructor(
    private readonly sched: Scheduler,
    private readonly rng: SimRng,
    private readonly targets: readonly ClientTarget[],
    first: number,
    private readonly o: ConnOptions = { minDelayMs: 0.2, maxDelayMs: 2 },
  ) {
    this.at = first % targets.length;
  }

  /** The member this client talks to now. */
  get endpoint(): string {
    return this.targets[this.at].name;
  }

  /** Moves to the next member (after an error that calls for it). */
  failover(): void {
    this.at = (this.at + 1) % this.targets.length;
  }

  private delay(): number {
    return this.rng.between(this.o.minDelayMs * 1000, this.o.maxDelayMs * 1000) / 1000;
  }

  /**
   * One unary call on the current member. Rejects with a CallError: UNAVAILABLE (definite) when
   * the member is down, 'connection lost' when it crashes before answering, DEADLINE_EXCEEDED
   * after timeoutMs of virtual time.
   */
  unary<Req, Res>(pick: (s: Services) => unknown, req: Req, timeoutMs: number): Promise<Res> {
    const target = this.targets[this.at];
    return new Promise<Res>((resolve, reject) => {
      let done = false;
      let unhook = () => {};
      const finish = (f: () => void) => {
        if (done) return;
        done = true;
        deadline.clear();
        unhook();
        f();
      };
      const deadline = this.sched.at(timeoutMs, `client deadline ${target.name}`, () =>
        finish(() => reject(new CallError(Code.DEADLINE_EXCEEDED, 'context deadline exceeded', false))),
      );
      const inc = target.current();
      if (!inc) {
        this.sched.at(this.delay(), `refused ${target.name}`, () =>
          finish(() => reject(new CallError(Code.UNAVAILABLE, `connection refused (${target.name} is down)`, true))),
        );
        return;
      }
      unhook = inc.clock.onKill(() =>
        this.sched.at(this.delay(), `reset ${target.name}`, () =>
          finish(() => reject(new CallError(Code.UNAVAILABLE, 'connection lost', false))),
        ),
      );

      this.sched.at(this.delay(), `request ${target.name}`, () => {
        inc.clock.post(`serve ${target.name}`, () => {
          const handler = pick(inc.services) as UnaryHandler<Req, Res>;
          handler({ request: req, metadata: new Metadata() }, (err, res) => {
            this.sched.at(this.delay(), `response ${target.name}`, () =>
              finish(() => (err ? reject(asCallError(err)) : resolve(res as Res))),
            );
          });
        });
      });
    });
  }

  /**
   * Opens a bidirectional stream on the current member; undefined when it is down. Client
   * messages and server responses travel with a delay; the stream closes (onClose with an error)
   * when the member crashes.
   */
  stream<Req, Res>(
    pick: (s: Services) => (stream: never) => void,
  ): { duplex: SimDuplex<Req, Res>; send(req: Req): void; close(): void } | undefined {
    const target = this.targets[this.at];
    const inc = target.current();
    if (!inc) return undefined;
    let closed = false;
    // A stream is ordered both ways (one HTTP/2 stream over TCP): each message is delivered no
    // earlier than the one before it.
    let lastDown = 0;
    let lastUp = 0;
    const ordered = (last: number): number => Math.max(this.sched.now() + this.delay(), last);
    const duplex = new SimDuplex<Req, Res>((fn) => {
      lastDown = ordered(lastDown);
      this.sched.at(lastDown - this.sched.now(), `stream response ${target.name}`, () => {
        if (!closed) fn();
      });
    });
    const unhook = inc.clock.onKill(() =>
      this.sched.at(this.delay(), `stream reset ${target.name}`, () => {
        if (!closed) duplex.closeOnce(new CallError(Code.UNAVAILABLE, 'connection lost', false));
      }),
    );
    lastUp = ordered(lastUp);
    inc.clock.post(`open stream ${target.name}`, () => (pick(inc.services) as (s: unknown) => void)(duplex), lastUp - this.sched.now());
    return {
      duplex,
      send: (req: Req) => {
        lastUp = ordered(lastUp);
        this.sched.at(lastUp - this.sched.now(), `stream request ${target.name}`, () =>
          inc.clock.post(`stream serve ${target.name}`, () => duplex.push(req)),
        );
      },
      close: () => {
        closed = true;
        unhook();
        inc.clock.post(`stream end ${target.name}`, () => duplex.emit('end'));
      },
    };
  }
}
