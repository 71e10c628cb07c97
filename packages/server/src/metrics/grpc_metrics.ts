// go-grpc-prometheus's server metrics, as etcd 3.4 registers them (grpc_prometheus.Register with
// every method pre-initialized): grpc_server_started_total, grpc_server_handled_total,
// grpc_server_msg_received_total, grpc_server_msg_sent_total, labelled grpc_type, grpc_service,
// grpc_method (and grpc_code on handled); with --metrics extensive also the
// grpc_server_handling_seconds histogram. Plus etcd's etcd_network_client_grpc_{sent,received}_bytes_total.
//
// Cost: every method gets its MethodStats once, when the service is instrumented; a call does
// plain increments on it (no label lookup, no allocation), and the collectors turn the numbers
// into series at scrape time. Only the extensive histogram observes per call (through a child
// cached per method), as in etcd where extensive is documented as the costlier level.
import { GoCodeNames } from '@kv/api';
import { status, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { MemberCounters } from './counters.js';

/** grpc-go's codes.Code.String(), by code number (what go-grpc-prometheus puts in grpc_code). */
export const GrpcCodeNames = GoCodeNames;

type GrpcType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

interface MethodStats {
  readonly labels: { grpc_type: GrpcType; grpc_service: string; grpc_method: string };
  started: number;
  received: number;
  sent: number;
  /** By status code number (0..16). */
  readonly handled: number[];
  /** The extensive histogram's child for this method (undefined at basic). */
  readonly timer?: { observe(v: number): void };
}

/** go-grpc-prometheus's buckets (prometheus.DefBuckets). */
const defBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function codeOf(err: unknown): number {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'number' && Number.isInteger(c) && c >= 0 && c < GrpcCodeNames.length ? c : status.UNKNOWN;
}

type Callback = (err: unknown, ...rest: unknown[]) => void;
interface AnyCall {
  emit(event: string | symbol, ...args: unknown[]): boolean;
  write?: (...a: unknown[]) => boolean;
  end?: (...a: unknown[]) => unknown;
  destroy?: (...a: unknown[]) => unknown;
}

export class GrpcMetrics {
  private readonly methods: MethodStats[] = [];
  private readonly handling?: Histogram<'grpc_type' | 'grpc_service' | 'grpc_method'>;

  constructor(
    readonly extensive: boolean,
    private readonly counters: MemberCounters,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (extensive) {
      this.handling = new Histogram({
        name: 'grpc_server_handling_seconds',
        help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
        labelNames: ['grpc_type', 'grpc_service', 'grpc_method'],
        buckets: defBuckets,
        registers: [],
      });
    }
  }

  /**
   * Returns `def` and `impl` with every method counted: `def`'s (de)serializers count client
   * bytes, `impl`'s handlers count calls, messages and statuses.
   */
  instrument<D extends ServiceDefinition>([def, impl]: [D, UntypedServiceImplementation]): [D, UntypedServiceImplementation] {
    const outDef: Record<string, unknown> = {};
    const outImpl: UntypedServiceImplementation = {};
    const c = this.counters;
    for (const [name, m] of Object.entries(def)) {
      const [, service = '', method = ''] = m.path.split('/');
      const type: GrpcType = m.requestStream
        ? m.responseStream
          ? 'bidi_stream'
          : 'client_stream'
        : m.responseStream
          ? 'server_stream'
          : 'unary';
      const labels = { grpc_type: type, grpc_service: service, grpc_method: method };
      const st: MethodStats = {
        labels,
        started: 0,
        received: 0,
        sent: 0,
        handled: GrpcCodeNames.map(() => 0),
        timer: this.handling?.labels(labels),
      };
      // As go-grpc-prometheus' preRegisterMethod: every method's histogram is listed at 0 from
      // the start, so etcd's dashboards and alert rules find the series before the first call.
      this.handling?.zero(labels);
      this.methods.push(st);
      const ser = m.responseSerialize;
      const deser = m.requestDeserialize;
      outDef[name] = {
        ...m,
        responseSerialize: (v: unknown) => {
          const b = ser(v);
          c.grpcSentBytes += b.length;
          return b;
        },
        requestDeserialize: (b: Buffer) => {
          c.grpcReceivedBytes += b.length;
          return deser(b);
        },
      };
      const handler = impl[name];
      if (typeof handler !== 'function') continue;
      const h = handler as (...a: unknown[]) => unknown;
      const wrapped =
        type === 'unary'
          ? (call: AnyCall, callback: Callback) => {
              st.started++;
              st.received++;
              const t0 = st.timer ? this.now() : 0;
              return h.call(impl, call, (err: unknown, ...rest: unknown[]) => {
                st.handled[err ? codeOf(err) : 0]!++;
                if (!err) st.sent++;
                st.timer?.observe((this.now() - t0) / 1000);
                callback(err, ...rest);
              });
            }
          : (call: AnyCall, callback?: Callback) => this.stream(st, h, impl, call, callback);
      outImpl[name] = wrapped as unknown as UntypedServiceImplementation[string];
    }
    return [outDef as D, outImpl];
  }

  private stream(st: MethodStats, h: (...a: unknown[]) => unknown, impl: object, call: AnyCall, callback?: Callback): unknown {
    st.started++;
    const t0 = st.timer ? this.now() : 0;
    let done = false;
    const finish = (code: number) => {
      if (done) return;
      done = true;
      st.handled[code]!++;
      st.timer?.observe((this.now() - t0) / 1000);
    };
    const { labels } = st;
    const clientStreams = labels.grpc_type === 'bidi_stream' || labels.grpc_type === 'client_stream';
    if (!clientStreams) st.received++; // the one request of a server stream
    const emit = call.emit.bind(call);
    call.emit = (event: string | symbol, ...args: unknown[]) => {
      if (event === 'data') st.received++;
      else if (event === 'error') finish(codeOf(args[0]));
      else if (event === 'cancelled') finish(status.CANCELLED);
      return emit(event, ...args);
    };
    if (call.write) {
      const write = call.write.bind(call);
      call.write = (...a: unknown[]) => {
        st.sent++;
        return write(...a);
      };
    }
    if (call.end) {
      const end = call.end.bind(call);
      call.end = (...a: unknown[]) => {
        finish(status.OK);
        return end(...a);
      };
    }
    if (call.destroy) {
      const destroy = call.destroy.bind(call);
      call.destroy = (...a: unknown[]) => {
        finish(a[0] ? codeOf(a[0]) : status.CANCELLED);
        return destroy(...a);
      };
    }
    const cb: Callback | undefined = callback
      ? (err, ...rest) => {
          finish(err ? codeOf(err) : status.OK);
          if (!err) st.sent++;
          callback(err, ...rest);
        }
      : undefined;
    return h.call(impl, call, cb);
  }

  /** Registers the collectors (and the extensive histogram) with `registry`. */
  register(registry: Registry): void {
    const methods = this.methods;
    const byMethod = (name: string, help: string, pick: (s: MethodStats) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['grpc_type', 'grpc_service', 'grpc_method'],
        registers: [registry],
        collect() {
          this.reset();
          for (const s of methods) this.inc(s.labels, pick(s));
        },
      });
    byMethod('grpc_server_started_total', 'Total number of RPCs started on the server.', (s) => s.started);
    byMethod('grpc_server_msg_received_total', 'Total number of RPC stream messages received on the server.', (s) => s.received);
    byMethod('grpc_server_msg_sent_total', 'Total number of gRPC stream messages sent by the server.', (s) => s.sent);
    new Counter({
      name: 'grpc_server_handled_total',
      help: 'Total number of RPCs completed on the server, regardless of success or failure.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method', 'grpc_code'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of methods) {
          for (let code = 0; code < GrpcCodeNames.length; code++) {
            this.inc({ ...s.labels, grpc_code: GrpcCodeNames[code]! }, s.handled[code]!);
          }
        }
      },
    });
    if (this.handling) registry.registerMetric(this.handling);
    const counters = this.counters;
    new Counter({
      name: 'etcd_network_client_grpc_sent_bytes_total',
      help: 'The total number of bytes sent to grpc clients.',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(counters.grpcSentBytes);
      },
    });
    new Counter({
      name: 'etcd_network_client_grpc_received_bytes_total',
      help: 'The total number of bytes received from grpc clients.',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(counters.grpcReceivedBytes);
      },
    });
  }
}
