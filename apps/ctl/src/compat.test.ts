// kvctl versus etcdctl 3.4, byte for byte: the same script of commands runs once with etcdctl
// and once with kvctl, each against a fresh server started with the same name and ports (so
// cluster and member ids and revisions agree), and every step's stdout, exit code and
// "Error:" line must be identical. Lease ids (time-based) and remaining TTLs are normalised.
// Runs against real etcd, and against kvd when it is built.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@kv/client';
import { freePort, serverKinds, startServer, type RunningServer, type ServerKind } from '@kv/testkit';
import { runTool, type Tool } from './testutil/run_tool.js';

/** What is compared for one step. */
interface Outcome {
  step: string;
  stdout: string;
  code: number | null;
  error: string[];
  /** All of stderr (shown on mismatch, not compared). */
  stderr: string;
}

interface Ctx {
  tool: Tool;
  server: RunningServer;
  client: Client;
  /** Lease ids (hex) in the order this transcript granted them. */
  leases: string[];
}

interface Step {
  name: string;
  args: (c: Ctx) => string[] | Promise<string[]>;
  stdin?: string;
  env?: (c: Ctx) => Record<string, string>;
  /** Extra normalisation of stdout for values that depend on timing. */
  normalize?: (s: string) => string;
  /** Watch-style steps: kill the process once stdout satisfies this. */
  until?: (out: string) => boolean;
  /** Runs right after the process started (e.g. writes a watcher should see). */
  during?: (c: Ctx) => Promise<void>;
  /** Compare stdout as base64 (binary output). */
  binary?: boolean;
  /** Do not pass --endpoints. */
  noEndpoints?: boolean;
  /** etcdctl prints the command's usage on stdout here; kvctl does not (compare the rest). */
  usage?: boolean;
}

const ep = (c: Ctx) => [`--endpoints=${c.server.endpoint}`];
const lease = (i: number) => (c: Ctx) => c.leases[i] ?? 'missing-lease';
const lines = (n: number) => (out: string) => out.split('\n').length > n;
const ttlNorm = (s: string) =>
  s
    .replace(/remaining\(\d+s\)/g, 'remaining(Ns)')
    .replace(/"ttl":\d+/g, '"ttl":N')
    .replace(/"TTL" : \d+/g, '"TTL" : N');

const txnScript = 'value("foo2") = "a\\"b"\nmod("foo") > "0"\n\nput x y --prev-kv\nget x\ndel foo2 --prev-kv\nget nothing\n\nput z 1\n\n';
const txnFail = 'ver("foo") = "100"\n\nput a 1\n\nput b 2\nget b\n\n';
const txnQuoted = 'value("foo") != "nope"\n\nput "q k" "v \\"1\\""\nget --prefix "q "\ng fo --prefix --keys-only\n\n\n';

/** The script: run in this order against a fresh server (first revision 1). */
/** The events of `watch -w json` output (one JSON response per line), each as JSON. */
function watchJsonEvents(out: string): string[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return ((JSON.parse(l) as { Events?: unknown[] }).Events ?? []).map((e) => JSON.stringify(e));
      } catch {
        return [l]; // a line still being written (while waiting) or not JSON: compare it as is
      }
    });
}

const steps: Step[] = [
  { name: 'put simple', args: () => ['put', 'foo', 'bar'] },
  { name: 'put json', args: () => ['-w', 'json', 'put', 'foo2', 'a"b'] },
  { name: 'put fields prev-kv', args: () => ['put', '--prev-kv', 'foo', 'baz', '-w', 'fields'] },
  { name: 'put from stdin', args: () => ['put', 'fromstdin'], stdin: 'line1\nline2\n' },
  { name: 'put after --', args: () => ['put', 'dash', '--', '-v'] },
  { name: 'put binary value', args: () => ['put', 'bin', '\u00e9\t\u0001x'] },
  { name: 'put protobuf', args: () => ['put', 'p', 'v', '-w', 'protobuf'], binary: true },
  { name: 'get simple', args: () => ['get', 'foo'] },
  { name: 'get prefix json', args: () => ['get', 'foo', '--prefix', '-w', 'json'] },
  { name: 'get prefix fields', args: () => ['get', '--prefix', 'f', '-w=fields'] },
  { name: 'get protobuf', args: () => ['get', 'foo', '--prefix', '-w', 'protobuf'], binary: true },
  { name: 'get hex', args: () => ['get', '--hex', 'bin'] },
  { name: 'get fields quoting', args: () => ['get', 'bin', '-w', 'fields'] },
  { name: 'get print-value-only', args: () => ['get', 'foo', '--print-value-only'] },
  { name: 'get keys-only', args: () => ['get', '--prefix', '', '--keys-only'] },
  { name: 'get from-key limit', args: () => ['get', '--from-key', 'd', '--limit', '2', '-w', 'json'] },
  { name: 'get sorted', args: () => ['get', '--prefix', 'f', '--sort-by=VALUE', '--order=DESCEND'] },
  { name: 'get range', args: () => ['get', 'a', 'g'] },
  { name: 'get at revision', args: () => ['get', 'foo', '--rev=2', '-w', 'json'] },
  { name: 'get serializable', args: () => ['get', 'foo', '--consistency=s'] },
  { name: 'get missing json', args: () => ['get', 'nothing', '-w', 'json'] },
  { name: 'get table unsupported', args: () => ['get', 'foo', '-w', 'table'] },
  { name: 'get print-value-only json', args: () => ['get', 'foo', '--print-value-only', '-w', 'json'] },
  { name: 'get no args', args: () => ['get'] },
  { name: 'get prefix and from-key', args: () => ['get', 'a', '--prefix', '--from-key'] },
  { name: 'get bad consistency', args: () => ['get', 'foo', '--consistency', 'x'] },
  { name: 'get bad order', args: () => ['get', 'foo', '--order', 'up'] },
  { name: 'bad output format', args: () => ['get', 'foo', '-w', 'bogus'] },
  { name: 'endpoints from env', args: () => ['get', 'foo'], env: (c) => ({ ETCDCTL_ENDPOINTS: c.server.endpoint }), noEndpoints: true },
  { name: 'txn simple', args: () => ['txn'], stdin: txnScript },
  { name: 'txn json', args: () => ['txn', '-w', 'json'], stdin: txnFail },
  { name: 'txn fields', args: () => ['txn', '-w', 'fields'], stdin: txnScript },
  { name: 'txn interactive', args: () => ['txn', '-i'], stdin: 'create("foo") > "0"\n\nget foo\n\nget bar\n\n' },
  { name: 'txn quoted and prefixed ops', args: () => ['txn', '-w', 'json'], stdin: txnQuoted },
  { name: 'txn malformed compare', args: () => ['txn'], stdin: 'bad\n\n\n\n' },
  { name: 'txn bad op', args: () => ['txn'], stdin: '\nput a\n\n\n' },
  { name: 'txn unknown op', args: () => ['txn'], stdin: '\nfoo bar\n\n\n' },
  { name: 'txn eof', args: () => ['txn'], stdin: '\nput a b\n' },
  { name: 'txn duplicate key', args: () => ['txn'], stdin: '\nput k 1\nput k 2\n\n\n' },
  { name: 'del prev-kv json', args: () => ['del', 'x', '--prev-kv', '-w', 'json'] },
  { name: 'del prefix fields', args: () => ['del', '--prefix', 'fro', '-w', 'fields'] },
  { name: 'del missing', args: () => ['del', 'nothing'] },
  { name: 'del range simple', args: () => ['del', 'a', 'c', '--prev-kv'] },
  { name: 'put empty key', args: () => ['put', '', 'v'] },
  { name: 'lease grant simple', args: () => ['lease', 'grant', '600'] },
  { name: 'lease list simple', args: () => ['lease', 'list'] },
  { name: 'lease list json', args: () => ['lease', 'list', '-w', 'json'] },
  { name: 'lease list fields', args: () => ['lease', 'list', '-w', 'fields'] },
  { name: 'put with lease', args: (c) => ['put', 'lk', 'v', `--lease=${lease(0)(c)}`] },
  { name: 'lease timetolive keys', args: (c) => ['lease', 'timetolive', lease(0)(c), '--keys'], normalize: ttlNorm },
  { name: 'lease timetolive json', args: (c) => ['lease', 'timetolive', lease(0)(c), '--keys', '-w', 'json'], normalize: ttlNorm },
  { name: 'lease timetolive fields', args: (c) => ['lease', 'timetolive', lease(0)(c), '-w', 'fields'], normalize: ttlNorm },
  { name: 'lease keep-alive once', args: (c) => ['lease', 'keep-alive', '--once', lease(0)(c)] },
  { name: 'lease keep-alive once json', args: (c) => ['lease', 'keep-alive', '--once', lease(0)(c), '-w', 'json'] },
  { name: 'lease revoke', args: (c) => ['lease', 'revoke', lease(0)(c)] },
  { name: 'lease timetolive expired', args: (c) => ['lease', 'timetolive', lease(0)(c)] },
  { name: 'lease revoke again', args: (c) => ['lease', 'revoke', lease(0)(c)] },
  { name: 'lease keep-alive once missing', args: (c) => ['lease', 'keep-alive', '--once', lease(0)(c)] },
  { name: 'lease grant json', args: () => ['-w', 'json', 'lease', 'grant', '600'] },
  { name: 'lease revoke json', args: (c) => ['lease', 'revoke', lease(1)(c), '-w', 'json'] },
  { name: 'lease grant fields', args: () => ['lease', 'grant', '600', '-w', 'fields'] },
  { name: 'lease revoke fields', args: (c) => ['lease', 'revoke', lease(2)(c), '-w', 'fields'] },
  { name: 'lease bad id', args: () => ['lease', 'revoke', 'zz'] },
  { name: 'lease bad ttl', args: () => ['lease', 'grant', 'x'] },
  { name: 'lease list empty', args: () => ['lease', 'list', '-w', 'json'] },
  { name: 'lease grant for keep-alive', args: () => ['lease', 'grant', '600'] },
  {
    name: 'lease keep-alive stream',
    args: (c) => ['lease', 'keep-alive', lease(3)(c)],
    until: lines(1),
  },
  { name: 'lease revoke kept', args: (c) => ['lease', 'revoke', lease(3)(c)] },
  { name: 'del no args', args: () => ['del'] },
  { name: 'put no args', args: () => ['put'] },
  { name: 'put bad lease', args: () => ['put', 'k', 'v', '--lease', 'xyz'] },
  { name: 'env conflicts with flag', args: () => ['get', 'foo'], env: (c) => ({ ETCDCTL_ENDPOINTS: c.server.endpoint }) },
  {
    name: 'watch json (history and live)',
    args: async (c) => {
      const next = (await c.client.get('w')).header!.revision + 1n;
      return ['watch', '--prefix', 'w', '--prev-kv', '--rev', String(next), '-w', 'json'];
    },
    // Starts at the revision after the current one, so it sees the writes below however fast it starts.
    during: async (c) => {
      await c.client.put('w1', 'a');
      await c.client.put('w1', 'b');
      await c.client.delete('w1');
    },
    // How revisions are grouped into responses depends on whether the watcher was caught up from
    // history or was already synced when the writes landed (on etcd as on kvd), so compare the
    // events, one per line, not the responses.
    until: (o) => watchJsonEvents(o).length >= 3,
    normalize: (o) => watchJsonEvents(o).join('\n'),
  },
  { name: 'watch history simple', args: () => ['watch', 'w1', '--rev', '2'], until: (o) => o.includes('DELETE\nw1\n\n') },
  {
    name: 'watch history fields prev-kv',
    args: () => ['watch', '--prefix', 'w', '--rev', '2', '--prev-kv', '-w', 'fields'],
    until: (o) => o.includes('"Type" : DELETE') && o.endsWith('"Value" : ""\n"Lease" : 0\n'),
  },
  { name: 'watch range', args: () => ['watch', 'a', 'x', '--rev', '2'], until: (o) => o.endsWith('DELETE\nw1\n\n') },
  {
    name: 'watch exec',
    args: () => [
      'watch',
      'w1',
      '--rev',
      '2',
      '--',
      'sh',
      '-c',
      'echo "$ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY $ETCD_WATCH_VALUE $ETCD_WATCH_REVISION"',
    ],
    until: (o) => o.includes('"DELETE" "w1"'),
  },
  { name: 'watch separator without command', args: () => ['watch', 'w1', '--'] },
  { name: 'watch range with prefix', args: () => ['watch', 'a', 'b', '--prefix'] },
  { name: 'watch no key', args: () => ['watch'] },
  { name: 'compaction', args: () => ['compaction', '5'] },
  { name: 'compaction physical', args: () => ['compaction', '--physical', '6', '-w', 'json'] },
  { name: 'compaction compacted', args: () => ['compaction', '3'] },
  { name: 'compaction future', args: () => ['compaction', '100000'] },
  { name: 'compaction bad arg', args: () => ['compaction', 'x'] },
  { name: 'get compacted', args: () => ['get', 'foo', '--rev', '2'] },
  { name: 'watch compacted', args: () => ['watch', 'foo', '--rev', '2', '-w', 'json'] },
  { name: 'watch compacted fields', args: () => ['watch', 'foo', '--rev', '2', '-w', 'fields'] },
  { name: 'watch compacted simple', args: () => ['watch', 'foo', '--rev', '2'] },
  { name: 'member list simple', args: () => ['member', 'list'] },
  { name: 'member list json', args: () => ['member', 'list', '-w', 'json'] },
  { name: 'member list fields', args: () => ['member', 'list', '-w', 'fields'] },
  { name: 'member list table', args: () => ['member', 'list', '-w', 'table'] },
  { name: 'member list protobuf', args: () => ['member', 'list', '-w', 'protobuf'], binary: true },
  // The raft index is masked in the endpoint status steps: each transcript runs on its own
  // server, and internal proposals (a lease revoked when its TTL ran out during a slow step) make
  // the two servers' logs differ in length on a loaded machine. Everything else is compared.
  {
    name: 'endpoint status table',
    args: () => ['endpoint', 'status', '-w', 'table'],
    normalize: (s) => s.replace(/\d+ kB/g, 'N kB').replace(/(\| +)\d+( \| +)\d+( \| +\|)$/gm, '$1I$2I$3'),
  },
  {
    name: 'endpoint status json',
    args: () => ['endpoint', 'status', '-w', 'json'],
    normalize: (s) =>
      s
        .replace(/"dbSize":\d+/, '"dbSize":N')
        .replace(/"dbSizeInUse":\d+/, '"dbSizeInUse":N')
        .replace(/"raftIndex":\d+/, '"raftIndex":I')
        .replace(/"raftAppliedIndex":\d+/, '"raftAppliedIndex":I'),
  },
  {
    name: 'endpoint status simple',
    args: () => ['endpoint', 'status'],
    normalize: (s) => s.replace(/\d+ kB/g, 'N kB').replace(/(, (?:true|false), (?:true|false), \d+, )\d+, \d+/g, '$1I, I'),
  },
  {
    name: 'endpoint status fields',
    args: () => ['endpoint', 'status', '-w', 'fields'],
    normalize: (s) =>
      s
        .replace(/"DBSize" : \d+/, '"DBSize" : N')
        .replace(/"RaftIndex" : \d+/, '"RaftIndex" : I')
        .replace(/"RaftAppliedIndex" : \d+/, '"RaftAppliedIndex" : I'),
  },
  { name: 'endpoint health simple', args: () => ['endpoint', 'health'] },
  {
    name: 'endpoint hashkv table',
    args: () => ['endpoint', 'hashkv', '-w', 'table'],
    normalize: (s) =>
      s
        .replace(/\| +\d+ \|$/m, '| N |')
        .replace(/^\+-+\+-+\+$/gm, 'LINE')
        .replace(/\| +HASH +\|$/m, '| HASH |'),
  },
  {
    name: 'endpoint health json',
    args: () => ['endpoint', 'health', '-w', 'json'],
    normalize: (s) => s.replace(/"took":"[^"]*"/g, '"took":"T"'),
  },
  {
    name: 'endpoint health table',
    args: () => ['endpoint', 'health', '-w', 'table'],
    normalize: (s) =>
      s
        // µs arrives as its UTF-8 bytes read as latin1 ("Âµs").
        .replace(/\| +[\d.]+(?:Âµ|µ|m|n)?s +\|/g, '| T |')
        .replace(/-+\+-+\+-+\+-+/g, 'LINE')
        .replace(/\| +TOOK +\|/, '| TOOK |'),
  },
  // The hash covers stored leases' ids, which are time-based.
  { name: 'endpoint hashkv', args: () => ['endpoint', 'hashkv', '-w', 'json'], normalize: (s) => s.replace(/"hash":\d+/, '"hash":N') },
  { name: 'alarm list', args: () => ['alarm', 'list'] },
  { name: 'defrag', args: () => ['defrag'] },
  // alarm disarm (etcdctl's fields printer crashes on its header-less answer: not compared)
  { name: 'alarm disarm', args: () => ['alarm', 'disarm'] },
  { name: 'alarm disarm json', args: () => ['alarm', 'disarm', '-w', 'json'] },
  { name: 'alarm disarm protobuf', args: () => ['alarm', 'disarm', '-w', 'protobuf'], binary: true },
  { name: 'alarm disarm table', args: () => ['alarm', 'disarm', '-w', 'table'] },
  { name: 'alarm disarm with args', args: () => ['alarm', 'disarm', 'x'] },
  // member commands that leave a one-member cluster as it is (the changes run on three members
  // in cluster_compat.test.ts)
  { name: 'member add no name', args: () => ['member', 'add'] },
  { name: 'member add no urls', args: () => ['member', 'add', 'm2'] },
  { name: 'member add url as arg', args: () => ['member', 'add', 'm2', 'http://127.0.0.1:1', 'HTTPS://x'] },
  { name: 'member add bad url', args: () => ['member', 'add', 'm2', '--peer-urls=127.0.0.1:1'] },
  { name: 'member add existing url', args: (c) => ['member', 'add', 'm2', `--peer-urls=http://127.0.0.1:${c.server.peerPort}`] },
  { name: 'member remove no id', args: () => ['member', 'remove'] },
  { name: 'member remove bad id', args: () => ['member', 'remove', 'xyz'] },
  { name: 'member remove unknown', args: () => ['member', 'remove', 'abc'] },
  { name: 'member update no urls', args: () => ['member', 'update', 'abc'] },
  { name: 'member update unknown', args: () => ['member', 'update', 'abc', '--peer-urls=http://127.0.0.1:1'] },
  { name: 'member promote unknown', args: () => ['member', 'promote', 'abc'] },
  {
    name: 'member promote voter',
    args: async (c) => ['member', 'promote', (await c.client.cluster.memberList()).members[0]!.ID.toString(16)],
  },
  { name: 'member promote too big', args: () => ['member', 'promote', '1ffffffffffffffff'] },
  // move-leader on one member: the leader is the only endpoint, the transferee is unknown or itself
  { name: 'move-leader no args', args: () => ['move-leader'] },
  { name: 'move-leader bad id', args: () => ['move-leader', 'q'] },
  { name: 'move-leader unknown', args: () => ['move-leader', 'abc'] },
  { name: 'move-leader json', args: () => ['move-leader', 'abc', '-w', 'json'] },
  { name: 'make-mirror no destination', args: () => ['make-mirror'] },
  {
    name: 'make-mirror both prefixes',
    args: (c) => ['make-mirror', '--dest-prefix', 'a', '--no-dest-prefix', c.server.endpoint],
  },
  { name: 'check perf bad load', args: () => ['check', 'perf', '--load', 'huge'] },
  { name: 'check datascale bad load', args: () => ['check', 'datascale', '--load=tiny'] },
  { name: 'check perf prefix has keys', args: () => ['check', 'perf', '--prefix', 'f'] },
  { name: 'check datascale prefix has keys', args: () => ['check', 'datascale', '--prefix', 'fo'] },
  { name: 'unknown flag', args: () => ['get', '--bogus', 'foo'], usage: true },
  { name: 'bad flag value', args: () => ['get', 'foo', '--limit', 'x'], usage: true },
  { name: 'bad duration', args: () => ['get', 'foo', '--command-timeout', '1'], usage: true },
  {
    name: 'unreachable endpoint',
    args: () => ['get', 'foo', '--command-timeout=1s'],
    env: () => ({}),
    noEndpoints: true,
  },
];

/** Lease ids granted in this output (simple "lease X granted", json/fields "ID"). */
function grantedLeases(stepName: string, out: string): string[] {
  if (!stepName.startsWith('lease grant')) return [];
  const hex = /lease ([0-9a-f]{16}) granted/.exec(out);
  if (hex) return [hex[1]!];
  const dec = /"ID" ?: ?(\d+)/.exec(out);
  if (dec) return [BigInt(dec[1]!).toString(16).padStart(16, '0')];
  return [];
}

function normalizeLeases(s: string, leases: string[]): string {
  leases.forEach((h, i) => {
    s = s
      .split(h)
      .join(`<lease${i}>`)
      .split(BigInt('0x' + h).toString())
      .join(`<lease${i}>`);
  });
  return s;
}

async function transcript(tool: Tool, kind: ServerKind, ports: { clientPort: number; peerPort: number }): Promise<Outcome[]> {
  const server = await startServer(kind, ports);
  const client = new Client({ endpoints: [server.endpoint], requestTimeoutMs: 10_000 });
  const c: Ctx = { tool, server, client, leases: [] };
  const outcomes: Outcome[] = [];
  try {
    for (const s of steps) {
      const dead = s.name === 'unreachable endpoint' ? [`--endpoints=127.0.0.1:${await freePort()}`] : [];
      const args = [...(s.noEndpoints ? dead : ep(c)), ...(await s.args(c))];
      const r = await runTool(tool, args, {
        stdin: s.stdin,
        env: s.env?.(c),
        until: s.until,
        onStart: s.during ? () => s.during!(c) : undefined,
      });
      const text = r.stdout.toString('latin1');
      c.leases.push(...grantedLeases(s.name, text));
      let stdout = s.binary ? r.stdout.toString('base64') : normalizeLeases(text, c.leases);
      if (s.usage) stdout = '(usage)';
      if (s.normalize) stdout = s.normalize(stdout);
      const error = r.stderr
        .split('\n')
        .filter((l) => l.startsWith('Error:') || l.startsWith('watch was canceled') || l.startsWith('Failed to'))
        .map((l) => normalizeLeases(l, c.leases));
      // A killed watch has no exit code of its own to compare.
      outcomes.push({ step: s.name, stdout, code: s.until ? null : r.code, error, stderr: r.stderr });
    }
  } finally {
    client.close();
    await server.stop();
  }
  return outcomes;
}

for (const { kind, skip } of serverKinds()) {
  if (skip) console.warn(`kvctl compat tests: skipping ${kind}: ${skip}`);
  describe.skipIf(skip !== undefined)(`kvctl matches etcdctl against ${kind}`, () => {
    let expected: Outcome[] = [];
    let actual: Outcome[] = [];

    beforeAll(async () => {
      const ports = { clientPort: await freePort(), peerPort: await freePort() };
      expected = await transcript('etcdctl', kind, ports);
      actual = await transcript('kvctl', kind, ports);
    }, 900_000);

    afterAll(() => undefined);

    it.each(steps.map((s, i) => [s.name, i] as const))('%s', (_name, i) => {
      const e = expected[i]!;
      const a = actual[i]!;
      expect({ stdout: a.stdout, code: a.code, error: a.error }, `kvctl stderr:\n${a.stderr}\netcdctl stderr:\n${e.stderr}`).toEqual({
        stdout: e.stdout,
        code: e.code,
        error: e.error,
      });
    });
  });
}
