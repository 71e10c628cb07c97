// kvctl versus etcdctl on three members: the same script of membership and maintenance commands
// runs with etcdctl against a real etcd 3.4 cluster and with kvctl against a kvd cluster, and each
// step's stdout, exit code and "Error:" lines must be equal once the values that necessarily
// differ between two clusters are replaced by names: member and cluster ids (hex and decimal),
// URLs and endpoints (random ports) — as <m1>, <cluster>, <m1-peer>, <m1-client>, <m1-ep> — and
// which member leads (<leader>, <target>). Lines whose order follows member ids (member list,
// the --cluster commands, ETCD_INITIAL_CLUSTER) are sorted, since ids differ between the clusters.
// Also make-mirror between two servers of each kind, and one check perf run on each.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@kv/client';
import { startCluster, type Cluster } from '@kv/cluster-launcher';
import { ETCDCTL_BIN, freePorts, serverKinds, startServer, until, type RunningServer, type ServerKind } from '@kv/testkit';

const KVCTL_BIN = fileURLToPath(new URL('../bin/kvctl', import.meta.url));

type Tool = 'etcdctl' | 'kvctl';
const toolFor = (kind: ServerKind): Tool => (kind === 'etcd' ? 'etcdctl' : 'kvctl');

interface RunResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Runs a tool to completion (bounded), or until `until` holds for its stdout (then SIGTERM). */
function runTool(tool: Tool, args: string[], opts: { timeoutMs?: number; until?: (out: string) => boolean } = {}): Promise<RunResult> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ETCDCTL_API: '3' };
  return new Promise((resolve, reject) => {
    const child = spawn(tool === 'etcdctl' ? ETCDCTL_BIN : KVCTL_BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (opts.until?.(out)) child.kill('SIGTERM');
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout: out, stderr: err, code });
    });
  });
}

interface Outcome {
  step: string;
  stdout: string;
  code: number | null;
  error: string[];
  stderr: string;
}

/** Replaces cluster-specific values by names; longer values first (a URL contains its endpoint). */
class Names {
  private readonly pairs: [string, string][] = [];
  add(value: string, name: string): void {
    if (value !== '') this.pairs.push([value, name]);
    this.pairs.sort((a, b) => b[0].length - a[0].length);
  }
  addId(id: bigint, name: string): void {
    const hex = id.toString(16);
    // etcdctl's "Member %16x added": the padding only where a separator space precedes it, so
    // that "to %s" with a 15-digit id keeps its space.
    this.add(` ${hex.padStart(16, ' ')}`, ` ${name}`);
    this.add(hex, name);
    this.add(id.toString(), name);
  }
  apply(s: string): string {
    for (const [v, n] of this.pairs) s = s.split(v).join(n);
    return s;
  }
}

const sortLines = (s: string) =>
  s
    .split('\n')
    .filter((l) => l !== '')
    .sort()
    .join('\n');
/** A table's body rows sorted (borders and header kept in place). */
const sortTable = (s: string) => {
  const lines = s.split('\n');
  const body = lines.filter((l) => l.startsWith('|')).slice(1);
  return [lines[0], lines[1], lines[2], ...body.sort(), lines.at(-2)].join('\n');
};
const sortInitialCluster = (s: string) =>
  s.replace(/ETCD_INITIAL_CLUSTER="([^"]*)"/, (_m, v: string) => `ETCD_INITIAL_CLUSTER="${v.split(',').sort().join(',')}"`);

interface Step {
  name: string;
  args: string[];
  normalize?: (s: string) => string;
  /** Retry (bounded) until the exit code is 0 (a learner must catch up before promotion; a fresh cluster refuses changes). */
  retry?: boolean;
  /** Runs before the step (waits for the cluster to reach a state). */
  before?: () => Promise<void>;
}

async function clusterTranscript(kind: ServerKind): Promise<Outcome[]> {
  const tool = toolFor(kind);
  const token = `kvctl-compat-${kind}-${process.pid}`;
  const cluster: Cluster = await startCluster({ server: kind, size: 3, token, readyTimeoutMs: 60_000, stopTimeoutMs: 5_000 });
  const client = new Client({ endpoints: [...cluster.endpoints], requestTimeoutMs: 10_000 });
  const extra: RunningServer[] = [];
  const names = new Names();
  const outcomes: Outcome[] = [];
  try {
    const ml = await until(() => client.cluster.memberList(), { what: 'member list' });
    names.addId(ml.header!.clusterId, '<cluster>');
    for (const m of ml.members) names.addId(m.ID, `<${m.name}>`);
    for (const m of cluster.members) {
      names.add(m.peerUrl, `<${m.name}-peer>`);
      names.add(m.clientUrl, `<${m.name}-client>`);
      names.add(m.endpoint, `<${m.name}-ep>`);
    }
    const [m4Client, m4Peer] = await freePorts(2);
    const m4PeerUrl = `http://127.0.0.1:${m4Peer}`;
    names.add(`http://127.0.0.1:${m4Client}`, '<m4-client>');
    names.add(`127.0.0.1:${m4Client}`, '<m4-ep>');
    names.add(m4PeerUrl, '<m4-peer>');
    const all = `--endpoints=${cluster.endpoints.join(',')}`;
    let m4Id = 0n;
    let leader = '';
    let target = '';
    const m4Hex = () => m4Id.toString(16);
    const applied =
      (what: string, ok: (ms: { name: string; isLearner: boolean; ID: bigint }[]) => boolean, askM4 = true) =>
      async () => {
        // Every member serves MemberList from its own applied state: wait until each has applied it.
        for (const ep of [...cluster.endpoints, `127.0.0.1:${m4Client}`]) {
          // (etcd answers MemberList on a learner with 'rpc not supported for learner'.)
          if (ep.endsWith(`:${m4Client}`) && (!askM4 || !extra[0]?.running)) continue;
          const c = new Client({ endpoints: [ep], requestTimeoutMs: 5_000 });
          try {
            await until(async () => ok((await c.cluster.memberList()).members), { what: `${what} at ${ep}`, timeoutMs: 30_000 });
          } finally {
            c.close();
          }
        }
      };
    const steps: (Step | (() => Step))[] = [
      {
        name: 'member add learner',
        args: [all, 'member', 'add', 'm4', '--learner', `--peer-urls=${m4PeerUrl}`],
        // Right after a start both refuse a change until every peer has been connected for a while ('unhealthy cluster').
        retry: true,
        // The new id is not known yet here (it depends on the time of the add).
        normalize: (x) => sortInitialCluster(x.replace(/^Member [0-9a-f ]{16} added/, 'Member <m4> added')),
      },
      {
        name: 'member list with an unstarted learner',
        args: [all, 'member', 'list'],
        normalize: sortLines,
        before: async () => {
          // The new member's id, then start it (it joins the existing cluster).
          const found = (await client.cluster.memberList()).members.find((m) => m.peerURLs.includes(m4PeerUrl));
          m4Id = found!.ID;
          names.addId(m4Id, '<m4>');
          await applied('the learner added', (ms) => ms.some((m) => m.ID === m4Id), false)();
        },
      },
      {
        name: 'member list table with a started learner',
        args: [all, 'member', 'list', '-w', 'table'],
        normalize: sortTable,
        before: async () => {
          const initialCluster = [...cluster.members.map((m) => `${m.name}=${m.peerUrl}`), `m4=${m4PeerUrl}`].join(',');
          extra.push(
            await startServer(kind, {
              name: 'm4',
              clientPort: m4Client,
              peerPort: m4Peer,
              initialCluster,
              initialClusterState: 'existing',
              token,
              readyTimeoutMs: 60_000,
              stopTimeoutMs: 5_000,
            }),
          );
          await applied('the learner started', (ms) => ms.some((m) => m.ID === m4Id && m.name === 'm4'), false)();
        },
      },
      () => ({ name: 'member promote the learner', args: [all, 'member', 'promote', m4Hex()], retry: true }),
      () => ({
        name: 'member list after promote',
        args: [all, 'member', 'list'],
        normalize: sortLines,
        before: applied('the promotion', (ms) => ms.some((m) => m.ID === m4Id && !m.isLearner)),
      }),
      () => ({ name: 'member update the promoted member', args: [all, 'member', 'update', m4Hex(), `--peer-urls=${m4PeerUrl}`] }),
      // The report: after member update a promoted learner was still listed as a learner.
      ...cluster.members.map((m) => () => ({
        name: `member list after update at ${m.name}`,
        args: [`--endpoints=${m.endpoint}`, 'member', 'list', '-w', 'table'],
        normalize: sortTable,
      })),
      () => ({
        name: 'member list after update at m4',
        args: [`--endpoints=127.0.0.1:${m4Client}`, 'member', 'list'],
        normalize: sortLines,
      }),
      () => ({ name: 'member promote a voter', args: [all, 'member', 'promote', m4Hex()] }),
      {
        name: 'move-leader from a follower endpoint only',
        args: [],
        before: async () => {
          const st = await Promise.all(cluster.endpoints.map((ep) => client.maintenance.status({ endpoint: ep })));
          const leaderIdx = st.findIndex((s) => s.header!.memberId === s.leader);
          leader = cluster.members[leaderIdx]!.name;
          target = cluster.members[(leaderIdx + 1) % 3]!.name;
        },
      },
      () => {
        const follower = cluster.members.find((m) => m.name === target)!;
        return {
          name: 'move-leader from a follower endpoint only',
          args: [`--endpoints=${follower.endpoint}`, 'move-leader', '1'],
        };
      },
      () => {
        const t = ml.members.find((m) => m.name === target)!;
        return {
          name: 'move-leader',
          args: [all, 'move-leader', t.ID.toString(16)],
        };
      },
      {
        name: 'endpoint hashkv --cluster',
        args: [all, 'endpoint', 'hashkv', '--cluster'],
        normalize: (s) => sortLines(s.replace(/, \d+$/gm, ', H')),
      },
      {
        name: 'endpoint status --cluster',
        args: [all, 'endpoint', 'status', '--cluster'],
        // endpoint, id and learner flag compared; version, size, leadership, term and indexes vary.
        normalize: (s) =>
          sortLines(
            s.replace(/^([^,]+, [^,]+), [^,]+, [^,]+, (true|false), (true|false), \d+, \d+, \d+, /gm, '$1, V, S, L, $3, T, I, I, '),
          ),
      },
      {
        name: 'endpoint health --cluster',
        args: [all, 'endpoint', 'health', '--cluster', '-w', 'table'],
        normalize: (s) =>
          sortTable(
            s
              .replace(/\| +[\d.]+[µmn]?s +\|/g, '| T |')
              .replace(/-+\+-+\+-+\+-+/g, 'LINE')
              .replace(/\| +TOOK +\|/, '| TOOK |'),
          ),
      },
      { name: 'defrag --cluster', args: [all, 'defrag', '--cluster'], normalize: sortLines },
      () => ({ name: 'member remove', args: [all, 'member', 'remove', m4Hex()] }),
      () => ({
        name: 'member list after remove',
        args: [all, 'member', 'list'],
        normalize: sortLines,
        before: applied('the removal', (ms) => !ms.some((m) => m.ID === m4Id), false),
      }),
      () => ({ name: 'member remove again', args: [all, 'member', 'remove', m4Hex()] }),
      () => ({ name: 'member update removed', args: [all, 'member', 'update', m4Hex(), `--peer-urls=${m4PeerUrl}`] }),
      { name: 'member add existing peer url', args: [all, 'member', 'add', 'm5', `--peer-urls=${cluster.members[0]!.peerUrl}`] },
    ];
    for (const entry of steps) {
      const s = typeof entry === 'function' ? entry() : entry;
      await s.before?.();
      if (s.args.length === 0) continue;
      let r = await runTool(tool, s.args);
      if (s.retry) {
        const deadline = Date.now() + 60_000;
        while (r.code !== 0 && Date.now() < deadline) {
          await new Promise((res) => setTimeout(res, 1_000));
          r = await runTool(tool, s.args);
        }
      }
      // Which member leads differs between the clusters.
      const roles = (x: string) => {
        if (!leader) return x;
        const other = cluster.members.map((m) => m.name).find((n) => n !== leader && n !== target)!;
        for (const [n, r] of [
          [leader, 'leader'],
          [target, 'target'],
          [other, 'other'],
        ] as const)
          x = x
            .split(`<${n}>`)
            .join(`<${r}>`)
            .split(`<${n}-`)
            .join(`<${r}-`)
            .split(`, ${n}, `) // the name column of member list
            .join(`, <${r}-name>, `);
        return x;
      };
      const norm = (x: string) => (s.normalize ?? ((y: string) => y))(roles(names.apply(x)));
      outcomes.push({
        step: s.name,
        stdout: norm(r.stdout),
        code: r.code,
        error: r.stderr
          .split('\n')
          .filter((l) => l.startsWith('Error:') || l.startsWith('Failed'))
          .map((l) => roles(names.apply(l))),
        stderr: r.stderr,
      });
    }
  } finally {
    client.close();
    for (const x of extra) await x.stop().catch(() => undefined);
    await cluster.stop();
  }
  return outcomes;
}

const available = serverKinds()
  .filter((k) => k.skip === undefined)
  .map((k) => k.kind);
const both = available.includes('etcd') && available.includes('kvd');
if (!both) console.warn('kvctl cluster compat tests: skipped (need both etcd and kvd)');

describe.skipIf(!both)('kvctl on kvd matches etcdctl on etcd, three members', () => {
  let expected: Outcome[] = [];
  let actual: Outcome[] = [];
  beforeAll(async () => {
    // One cluster at a time: the machine is small.
    expected = await clusterTranscript('etcd');
    actual = await clusterTranscript('kvd');
  }, 600_000);

  it('ran the same steps', () => {
    expect(actual.map((o) => o.step)).toEqual(expected.map((o) => o.step));
    expect(expected.length).toBeGreaterThan(15);
  });

  it('gives the same output for every step', () => {
    for (let i = 0; i < expected.length; i++) {
      const e = expected[i]!;
      const a = actual[i]!;
      expect(
        { step: a.step, stdout: a.stdout, code: a.code, error: a.error },
        `step ${i} "${e.step}"\nkvctl: ${JSON.stringify(a)}\netcdctl: ${JSON.stringify(e)}`,
      ).toEqual({
        step: e.step,
        stdout: e.stdout,
        code: e.code,
        error: e.error,
      });
    }
  });

  it('lists a promoted and then updated member as a voter everywhere', () => {
    for (const o of actual.filter((x) => x.step.startsWith('member list after update'))) {
      expect(o.stdout).toMatch(/<m4>.*false/);
      expect(o.stdout).not.toMatch(/<m4>.*true/);
    }
  });
});

// ---- make-mirror ----

async function mirrorTranscript(kind: ServerKind): Promise<{ stdout: string; code: number | null; dest: string; stderr: string }> {
  const tool = toolFor(kind);
  const src = await startServer(kind, { name: 'src', stopTimeoutMs: 5_000 });
  const dst = await startServer(kind, { name: 'dst', stopTimeoutMs: 5_000 });
  const sc = new Client({ endpoints: [src.endpoint] });
  const dc = new Client({ endpoints: [dst.endpoint] });
  try {
    for (const k of ['a', 'b', 'c']) await sc.put(`src/${k}`, `v-${k}`);
    await sc.put('other', 'not mirrored');
    const mirror = runTool(
      tool,
      [`--endpoints=${src.endpoint}`, 'make-mirror', '--prefix', 'src/', '--dest-prefix', 'dst/', dst.endpoint],
      {
        // The first count is printed 30 s after the start.
        until: (out) => out.includes('\n'),
        timeoutMs: 90_000,
      },
    );
    // Changes after the start: a put, a delete, and a transaction of two (one destination txn).
    await until(async () => (await dc.getPrefix('dst/')).kvs.length === 3, { what: 'base copied', timeoutMs: 25_000 });
    await sc.put('src/d', 'v-d');
    await sc.delete('src/a');
    await sc
      .txn()
      .then(
        {
          requestPut: {
            key: Buffer.from('src/e'),
            value: Buffer.from('v-e'),
            lease: 0n,
            prevKv: false,
            ignoreValue: false,
            ignoreLease: false,
          },
        },
        { requestDeleteRange: { key: Buffer.from('src/b'), rangeEnd: Buffer.alloc(0), prevKv: false } },
      )
      .commit();
    const r = await mirror;
    const dest = await runTool(tool, [`--endpoints=${dst.endpoint}`, 'get', '--prefix', '']);
    return { stdout: r.stdout, code: r.code, dest: dest.stdout, stderr: r.stderr };
  } finally {
    sc.close();
    dc.close();
    await src.stop();
    await dst.stop();
  }
}

describe.skipIf(!both)('make-mirror: kvctl between kvd servers as etcdctl between etcd servers', () => {
  let e: Awaited<ReturnType<typeof mirrorTranscript>>;
  let k: Awaited<ReturnType<typeof mirrorTranscript>>;
  beforeAll(async () => {
    [e, k] = await Promise.all([mirrorTranscript('etcd'), mirrorTranscript('kvd')]);
  }, 180_000);

  it('copies the prefix and its changes under the destination prefix', () => {
    expect(k.dest).toBe('dst/c\nv-c\ndst/d\nv-d\ndst/e\nv-e\n');
    expect(k.dest, k.stderr).toBe(e.dest);
  });

  it('prints the count of synced keys after 30 s', () => {
    // 3 copied + 4 changes.
    expect(e.stdout).toBe('7\n');
    expect(k.stdout, k.stderr).toBe(e.stdout);
  });
});

// ---- check perf ----

/** The shapes of check perf's stdout lines (numbers vary; PASS or FAIL depends on the machine). */
const perfLineShapes: [RegExp, string][] = [
  [/^PASS: Throughput is \d+ writes\/s$/, 'throughput'],
  [/^FAIL: Throughput too low: \d+ writes\/s$/, 'throughput'],
  [/^PASS: Slowest request took \d+\.\d{6}s$/, 'slowest'],
  [/^Slowest request took too long: \d+\.\d{6}s$/, 'slowest'],
  [/^PASS: Stddev is \d+\.\d{6}s$/, 'stddev'],
  [/^Stddev too high: \d+\.\d{6}s$/, 'stddev'],
  [/^Compacting with revision \d+$/, 'compacting'],
  [/^Compacted with revision \d+$/, 'compacted'],
  [/^Defragmenting "127\.0\.0\.1:\d+"$/, 'defragmenting'],
  [/^Defragmented "127\.0\.0\.1:\d+"$/, 'defragmented'],
  [/^FAIL: too many errors$/, 'errors'],
  [/^FAIL: ERROR\(.+\) -> \d+$/, 'error'],
  [/^(PASS|FAIL)$/, 'verdict'],
];

function perfShapes(stdout: string): string[] {
  return (
    stdout
      // etcdctl's progress bar may end without a newline, so the next line is glued to it.
      .replace(/(Compacting|Compacted|Defragmenting|Defragmented) (with|")/g, '\n$1 $2')
      .split('\n')
      // etcdctl draws its pb progress bar into stdout with carriage returns; kvctl uses stderr.
      .map((l) => l.slice(l.lastIndexOf('\r') + 1))
      .filter((l) => l.trim() !== '' && !/^\s*\d+ \/ \d+ /.test(l))
      .filter((l) => !/Bom|\[.*\]\s*\d+\.\d+%/.test(l))
      .filter((l) => !(l.includes('%') && l.includes('/')))
      .map((l) => perfLineShapes.find(([re]) => re.test(l))?.[1] ?? `unknown: ${JSON.stringify(l)}`)
      .filter((s) => s !== 'error')
  );
}

describe.skipIf(!both)('check perf --load s: kvctl on kvd as etcdctl on etcd', () => {
  let e: RunResult;
  let k: RunResult;
  let left = -1;
  beforeAll(async () => {
    const run = async (kind: ServerKind) => {
      const s = await startServer(kind, { name: 'perf', stopTimeoutMs: 5_000 });
      try {
        const r = await runTool(
          toolFor(kind),
          [`--endpoints=${s.endpoint}`, 'check', 'perf', '--load', 's', '--auto-compact', '--auto-defrag'],
          {
            timeoutMs: 240_000,
          },
        );
        if (kind === 'kvd') {
          const c = new Client({ endpoints: [s.endpoint] });
          left = (await c.getPrefix('/etcdctl-check-perf/', { countOnly: true })).count === 0n ? 0 : 1;
          c.close();
        }
        return r;
      } finally {
        await s.stop();
      }
    };
    [e, k] = await Promise.all([run('etcd'), run('kvd')]);
  }, 300_000);

  it('prints the same kinds of lines, in the same order', () => {
    const shapes = perfShapes(e.stdout);
    expect(shapes).toEqual(['compacting', 'compacted', 'defragmenting', 'defragmented', ...shapes.slice(4)]);
    const ks = perfShapes(k.stdout);
    // "errors" appears only when requests failed, on either side.
    expect(
      ks.filter((x) => x !== 'errors'),
      k.stdout + k.stderr,
    ).toEqual(shapes.filter((x) => x !== 'errors'));
  });

  it('ends with a verdict that agrees with its lines and exit code', () => {
    const lines = k.stdout.trim().split('\n');
    const verdict = lines.at(-1);
    const failed = lines.some((l) => l.startsWith('FAIL') || l.includes('too long') || l.includes('too high'));
    expect(verdict).toBe(failed ? 'FAIL' : 'PASS');
    expect(k.code).toBe(failed ? 1 : 0);
  });

  it('leaves no keys behind', () => {
    expect(left).toBe(0);
  });
});
