import { describe, expect, it } from 'vitest';
import { parsePrometheus, total } from './prom.js';

describe('Prometheus text', () => {
  it('reads samples, labels (escapes included), special values and timestamps; skips comments', () => {
    const s = parsePrometheus(
      [
        '# HELP etcd_server_proposals_committed_total The total number of consensus proposals committed.',
        '# TYPE etcd_server_proposals_committed_total gauge',
        'etcd_server_proposals_committed_total 1234',
        'grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"} 7',
        'grpc_server_handled_total{grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 3 1700000000000',
        'weird{path="a\\"b\\\\c\\nd",x="1,2}"} NaN',
        'h_bucket{le="+Inf"} +Inf',
        'neg -Inf',
        'sci 1.5e-3',
        '',
      ].join('\n'),
    );
    expect(s.get('etcd_server_proposals_committed_total')).toEqual([{ labels: {}, value: 1234 }]);
    expect(s.get('grpc_server_handled_total')?.map((x) => x.labels.grpc_method)).toEqual(['Put', 'Range']);
    expect(total(s, 'grpc_server_handled_total')).toBe(10);
    expect(s.get('weird')?.[0]?.labels).toEqual({ path: 'a"b\\c\nd', x: '1,2}' });
    expect(Number.isNaN(s.get('weird')?.[0]?.value)).toBe(true);
    expect(s.get('h_bucket')?.[0]).toEqual({ labels: { le: '+Inf' }, value: Number.POSITIVE_INFINITY });
    expect(s.get('neg')?.[0]?.value).toBe(Number.NEGATIVE_INFINITY);
    expect(s.get('sci')?.[0]?.value).toBe(0.0015);
    expect(total(s, 'absent')).toBeUndefined();
  });
  it('refuses malformed lines', () => {
    expect(() => parsePrometheus('x{a="1} 2')).toThrow(/unterminated/);
    expect(() => parsePrometheus('x abc')).toThrow(/bad sample value/);
    expect(() => parsePrometheus('{} 1')).toThrow(/bad sample line/);
  });
});
