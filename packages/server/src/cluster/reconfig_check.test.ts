// etcd's strict reconfiguration rules (cluster/reconfig_check.ts), table-driven: who is a voter,
// who has started, whom the deciding member (1) has been connected to and for how long, the
// change → allowed or etcd's error. Cases follow etcd 3.4's server.go and membership/cluster.go.
import { describe, expect, it } from 'vitest';
import { checkReconfig, HealthIntervalMs, type ReconfigChange, type ReconfigMember } from './reconfig_check.js';

const NOW = 100_000;
const LONG = NOW - HealthIntervalMs - 1; // connected for more than the health interval
const SHORT = NOW - 1_000; // connected, but only for a second

/** `v` voter, `l` learner; name '' = never started; since: undefined = no stream. */
type Row = { id: bigint; kind: 'v' | 'l'; started?: boolean; since?: number };

const cases: { name: string; members: Row[]; change: ReconfigChange; want: string | undefined }[] = [
  // remove
  { name: 'remove a healthy voter, all up', members: [v(1), v(2, LONG), v(3, LONG)], change: rm(2), want: undefined },
  { name: 'remove a healthy voter with a third down', members: [v(1), v(2, LONG), v(3)], change: rm(2), want: 'Unhealthy' },
  { name: 'remove the down voter', members: [v(1), v(2, LONG), v(3)], change: rm(3), want: undefined },
  { name: 'remove self with a third down', members: [v(1), v(2, LONG), v(3)], change: rm(1), want: 'Unhealthy' },
  { name: 'remove a voter connected only briefly', members: [v(1), v(2, SHORT), v(3, LONG)], change: rm(3), want: 'Unhealthy' },
  { name: 'remove one of five with one down', members: [v(1), v(2, LONG), v(3, LONG), v(4, LONG), v(5)], change: rm(2), want: undefined },
  { name: 'remove one of five with two down', members: [v(1), v(2, LONG), v(3, LONG), v(4), v(5)], change: rm(2), want: 'Unhealthy' },
  {
    name: 'remove a started voter when the rest never started',
    members: [v(1), v(2, LONG), unstarted(3), unstarted(4)],
    change: rm(2),
    want: 'MemberNotEnoughStarted',
  },
  { name: 'remove a learner, even with voters down', members: [v(1), v(2), v(3), l(4, LONG)], change: rm(4), want: undefined },
  { name: 'learners do not count as connected voters', members: [v(1), v(2, LONG), v(3), l(4, LONG)], change: rm(2), want: 'Unhealthy' },
  { name: 'remove an unknown id', members: [v(1), v(2, LONG), v(3)], change: rm(9), want: undefined },
  // add
  { name: 'add a voter, all connected long enough', members: [v(1), v(2, LONG), v(3, LONG)], change: add(false), want: undefined },
  { name: 'add a voter with one voter down', members: [v(1), v(2, LONG), v(3)], change: add(false), want: 'Unhealthy' },
  { name: 'add a learner with one voter down', members: [v(1), v(2, LONG), v(3)], change: add(true), want: 'Unhealthy' },
  { name: 'add right after the streams came up', members: [v(1), v(2, SHORT), v(3, LONG)], change: add(true), want: 'Unhealthy' },
  { name: 'add a second member to a one-member cluster', members: [v(1)], change: add(false), want: undefined },
  {
    name: 'add a voter when two of three never started',
    members: [v(1), unstarted(2, LONG), unstarted(3, LONG)],
    change: add(false),
    want: 'MemberNotEnoughStarted',
  },
  {
    name: 'add a learner when two of three never started',
    members: [v(1), unstarted(2, LONG), unstarted(3, LONG)],
    change: add(true),
    want: undefined,
  },
  { name: 'a down learner does not block an add', members: [v(1), v(2, LONG), v(3, LONG), l(4)], change: add(false), want: undefined },
  // promote
  { name: 'promote with all started', members: [v(1), v(2), v(3), l(4)], change: promote(4), want: undefined },
  { name: 'promote with a voter down (started still counts)', members: [v(1), v(2), v(3), l(4)], change: promote(4), want: undefined },
  {
    name: 'promote when two of three never started',
    members: [v(1), unstarted(2), unstarted(3), l(4)],
    change: promote(4),
    want: 'MemberNotEnoughStarted',
  },
];

function v(id: number, since?: number): Row {
  return { id: BigInt(id), kind: 'v', started: true, since };
}
function unstarted(id: number, since?: number): Row {
  return { id: BigInt(id), kind: 'v', started: false, since };
}
function l(id: number, since?: number): Row {
  return { id: BigInt(id), kind: 'l', started: true, since };
}
function rm(id: number): ReconfigChange {
  return { kind: 'remove', id: BigInt(id) };
}
function add(isLearner: boolean): ReconfigChange {
  return { kind: 'add', isLearner };
}
function promote(id: number): ReconfigChange {
  return { kind: 'promote', id: BigInt(id) };
}

describe('strict reconfiguration check', () => {
  for (const c of cases) {
    it(`${c.name} → ${c.want ?? 'allowed'}`, () => {
      const members: ReconfigMember[] = c.members.map((r) => ({ id: r.id, name: r.started ? `m${r.id}` : '', isLearner: r.kind === 'l' }));
      const since = new Map(c.members.map((r) => [r.id, r.since]));
      const got = checkReconfig({ self: 1n, members, activeSince: (id) => since.get(id), now: NOW }, c.change);
      expect(got).toBe(c.want);
    });
  }

  it('counts a stream up exactly HealthIntervalMs as not yet healthy (etcd: strictly before)', () => {
    const members = [1n, 2n, 3n].map((id) => ({ id, name: `m${id}`, isLearner: false }));
    const at = (t: number) => checkReconfig({ self: 1n, members, activeSince: () => t, now: NOW }, add(false));
    expect(at(NOW - HealthIntervalMs)).toBe('Unhealthy');
    expect(at(NOW - HealthIntervalMs - 1)).toBeUndefined();
  });
});
