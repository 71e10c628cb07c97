import { describe, expect, it } from 'vitest';
import { renderTable, wrapString } from './table.js';

describe('table rendering', () => {
  it('matches etcdctl member list -w table', () => {
    const out = renderTable(
      ['ID', 'Status', 'Name', 'Peer Addrs', 'Client Addrs', 'Is Learner'],
      [['2e1259d415f2a040', 'started', 't', 'http://127.0.0.1:23800', 'http://127.0.0.1:23790', 'false']],
    );
    expect(out).toBe(
      [
        '+------------------+---------+------+------------------------+------------------------+------------+',
        '|        ID        | STATUS  | NAME |       PEER ADDRS       |      CLIENT ADDRS      | IS LEARNER |',
        '+------------------+---------+------+------------------------+------------------------+------------+',
        '| 2e1259d415f2a040 | started |    t | http://127.0.0.1:23800 | http://127.0.0.1:23790 |      false |',
        '+------------------+---------+------+------------------------+------------------------+------------+',
        '',
      ].join('\n'),
    );
  });

  it('wraps long cells at spaces into several lines', () => {
    expect(wrapString('alpha beta gamma delta epsilon zeta eta theta', 30)).toEqual(['alpha beta gamma delta epsilon', 'zeta eta theta']);
    const out = renderTable(['errors'], [['alarm:NOSPACE, some other long error text']]);
    expect(out.split('\n').length).toBe(7);
  });
});
