import { describe, expect, it } from 'vitest';
import { Normalizer, type RawOutput } from './normalize.js';

const EP = 'http://127.0.0.1:40001';
const noOpts = { sort: false, remaining: null };

function raw(stdout: string, stderr = '', code: number | null = 0): RawOutput {
  return { stdout, stderr, code, signal: null, timedOut: false };
}

describe('Normalizer', () => {
  it('tokenises lease ids in grant order, in hex and decimal, and expands them back', () => {
    const n = new Normalizer(EP);
    expect(n.render(raw('lease 390da201bf3cc114 granted with TTL(60s)\n'), noOpts)).toBe('lease <L1> granted with TTL(60s)');
    // 0x390da201bf3cc116 = 4111120163246227734
    expect(
      n.render(raw('{"cluster_id":1,"member_id":2,"revision":1,"raft_term":2,"ID":4111120163246227734,"TTL":120,"Error":""}\n'), noOpts),
    ).toBe('{"cluster_id":<CLUSTER_ID>,"member_id":<MEMBER_ID>,"revision":1,"raft_term":<RAFT_TERM>,"ID":<L2>,"TTL":120,"Error":""}');
    expect(n.expandArgs(['put', 'k', 'v', '--lease=<L2>'])).toEqual(['put', 'k', 'v', '--lease=390da201bf3cc116']);
    expect(n.expand('put k v --lease=<L1>\n')).toBe('put k v --lease=390da201bf3cc114\n');
    expect(n.render(raw('found 2 leases\n390da201bf3cc116\n390da201bf3cc114\n'), noOpts)).toBe('found 2 leases\n<L2>\n<L1>');
    expect(n.render(raw('"Lease" : 4111120163246227734\n"Lease" : 0\n'), noOpts)).toBe('"Lease" : <L2>\n"Lease" : 0');
    expect(n.render(raw('{"kvs":[{"key":"YQ==","lease":4111120163246227734}]}'), noOpts)).toBe('{"kvs":[{"key":"YQ==","lease":<L2>}]}');
    expect(n.leases.get('L1')).toBe(0x390da201bf3cc114n);
  });

  it('leaves lease ids it never saw granted alone', () => {
    const n = new Normalizer(EP);
    expect(n.render(raw('lease 0000000000001234 already expired\n'), noOpts)).toBe('lease 0000000000001234 already expired');
    expect(() => n.expandArgs(['--lease=<L1>'])).toThrow(/before any lease/);
  });

  it('expands <repeat:N:s>', () => {
    expect(new Normalizer(EP).expandArgs(['put', 'k', '<repeat:3:ab>'])).toEqual(['put', 'k', 'ababab']);
  });

  it('drops client log lines and marks stderr and exit status', () => {
    const n = new Normalizer(EP);
    const stderr =
      '{"level":"warn","ts":"2026-01-01T00:00:00Z","caller":"clientv3/retry_interceptor.go:62","msg":"retrying"}\n' +
      'Error: etcdserver: key is not provided\n';
    expect(n.render(raw('', stderr, 1), noOpts)).toBe('[stderr] Error: etcdserver: key is not provided\n[exit 1]');
    expect(n.render({ ...raw('x\n'), code: null, signal: 'SIGTERM' }, noOpts)).toBe('x\n[signal SIGTERM]');
    expect(n.render({ ...raw('x\n'), code: null, signal: 'SIGTERM', stoppedByUs: true }, noOpts)).toBe('x');
    expect(n.render({ ...raw(''), code: null, signal: 'SIGKILL', timedOut: true }, noOpts)).toBe('[timeout]');
  });

  it('keeps inner blank lines but drops trailing ones', () => {
    expect(new Normalizer(EP).render(raw('SUCCESS\n\nOK\n\n\n'), noOpts)).toBe('SUCCESS\n\nOK');
  });

  it('normalises -w fields headers, the endpoint and durations', () => {
    const n = new Normalizer(EP);
    expect(n.render(raw('"ClusterID" : 15118495548433857066\n"MemberID" : 1366\n"Revision" : 3\n"RaftTerm" : 2\n'), noOpts)).toBe(
      '"ClusterID" : <CLUSTER_ID>\n"MemberID" : <MEMBER_ID>\n"Revision" : 3\n"RaftTerm" : <RAFT_TERM>',
    );
    expect(n.render(raw('', `${EP} is healthy: successfully committed proposal: took = 2.151019ms\n`), noOpts)).toBe(
      '[stderr] <ENDPOINT> is healthy: successfully committed proposal: took = <DURATION>',
    );
    expect(n.render(raw(`[{"endpoint":"${EP}","health":true,"took":"951.2µs"}]`), noOpts)).toBe(
      '[{"endpoint":"<ENDPOINT>","health":true,"took":"<DURATION>"}]',
    );
  });

  it('tolerates remaining TTL from 3 below to 1 above the declared value only', () => {
    const n = new Normalizer(EP);
    const o = { sort: false, remaining: 59 };
    expect(n.render(raw('lease 0000000000000001 granted with TTL(60s), remaining(60s)'), o)).toBe(
      'lease 0000000000000001 granted with TTL(60s), remaining(59±1s)',
    );
    expect(n.render(raw('… remaining(58s)'), o)).toBe('… remaining(59±1s)');
    expect(n.render(raw('… remaining(56s)'), o)).toBe('… remaining(59±1s)'); // a slow machine counts down
    expect(n.render(raw('… remaining(55s)'), o)).toBe('… remaining(55s)');
    expect(n.render(raw('… remaining(61s)'), o)).toBe('… remaining(61s)');
    expect(n.render(raw('{"id":1,"ttl":58,"granted-ttl":60}'), o)).toBe('{"id":1,"ttl":59±1,"granted-ttl":60}');
    expect(n.render(raw('… remaining(58s)'), noOpts)).toBe('… remaining(58s)');
  });

  it('sorts attached lease keys and, on request, output lines', () => {
    const n = new Normalizer(EP);
    expect(n.render(raw('lease 0000000000000001 granted with TTL(60s), remaining(59s), attached keys([k3 k2])'), noOpts)).toBe(
      'lease 0000000000000001 granted with TTL(60s), remaining(59s), attached keys([k2 k3])',
    );
    expect(n.render(raw('{"keys":["azM=","azI="]}'), noOpts)).toBe('{"keys":["azI=","azM="]}');
    expect(n.render(raw('b\na\nc\n'), { sort: true, remaining: null })).toBe('a\nb\nc');
  });
});
