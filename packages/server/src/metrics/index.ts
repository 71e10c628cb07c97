// The member's Prometheus metrics (etcd 3.4's names): see docs/server.md, "Metrics".
export { MemberCounters, SlowApplyMs } from './counters.js';
export { MemberMetrics, type MetricsLevel, type MetricsSource } from './etcd_metrics.js';
export { GrpcMetrics, GrpcCodeNames } from './grpc_metrics.js';
export { answerMetrics } from './http.js';
export { MetricsListener, type MetricsListenerOptions } from './listener.js';
export { Recorders } from './recorders.js';
