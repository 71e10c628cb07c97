// Turning one command's raw result into the text stored in a golden file, with everything that
// legitimately differs between runs or servers replaced by tokens:
//
//   lease ids           → <L1>, <L2>, … in order of first grant within the run (hex and decimal)
//   cluster/member ids  → <CLUSTER_ID>, <MEMBER_ID>   (JSON headers and -w fields)
//   raft term/index     → <RAFT_TERM>, <RAFT_INDEX>
//   the endpoint URL    → <ENDPOINT>
//   "took = 1.2ms"      → "took = <DURATION>" (also "took":"…" in JSON)
//   lease attached keys → sorted (etcd lists them from a hash set)
//   TTL remaining       → N±1 when the step says `% remaining=N` and the value is in N-3..N+1 (the
//                         time between grant and the query counts down; a loaded machine takes seconds)
//   client log lines    → dropped ({"level":"warn",…} lines etcdctl's gRPC client writes to stderr)
//
// Revisions, keys, values, counts, error texts and exit codes are never normalised: they are
// what the comparison is about.
//
// A Normalizer lives for one run of one script; lease tokens are stable for that run.
import type { RunResult } from './proc.js';
import type { StepOptions } from './script.js';

export interface RawOutput extends RunResult {
  /** For background processes: the harness ended it, so its exit status means nothing. */
  stoppedByUs?: boolean;
}

const clientLogLine = /^\{"level":"[a-z]+",/;

/** Lines that announce a new lease and so assign the next token. */
const grantText = /^lease ([0-9a-f]{1,16}) granted with TTL\(-?\d+s\)$/;
const grantJson = /"ID":(\d+),"TTL":-?\d+,"Error":/;

export class Normalizer {
  private readonly tokenById = new Map<bigint, string>();
  private readonly idByToken = new Map<string, bigint>();

  constructor(private endpoint: string) {}

  /** Lease tokens assigned so far, token → id. */
  get leases(): ReadonlyMap<string, bigint> {
    return this.idByToken;
  }

  /**
   * Expand tokens in a command's arguments: `<L1>` → that lease's id in hex (as etcdctl takes
   * it), `<repeat:N:s>` → s repeated N times.
   */
  expandArgs(args: readonly string[]): string[] {
    return args.map((a) => this.expand(a));
  }

  /** Expand the same tokens in free text (stdin of a txn). */
  expand(text: string): string {
    return text
      .replace(/<repeat:(\d+):([^>]*)>/g, (_m, n: string, s: string) => s.repeat(Number(n)))
      .replace(/<(L\d+)>/g, (_m, tok: string) => {
        const id = this.idByToken.get(tok);
        if (id === undefined) {
          throw new Error(`lease token <${tok}> used before any lease was granted as ${tok}`);
        }
        return id.toString(16);
      });
  }

  /** Render a raw result as golden text (no trailing newline). */
  render(raw: RawOutput, opts: Pick<StepOptions, 'sort' | 'remaining'>): string {
    let out = splitLines(raw.stdout);
    const err = splitLines(raw.stderr).filter((l) => !clientLogLine.test(l));
    for (const l of [...out, ...err]) this.register(l);
    out = out.map((l) => this.rewrite(l, opts));
    const errOut = err.map((l) => this.rewrite(l, opts));
    if (opts.sort) out.sort();
    const lines = [...out, ...errOut.map((l) => (l === '' ? '[stderr]' : `[stderr] ${l}`))];
    if (raw.timedOut) lines.push('[timeout]');
    else if (raw.code !== null && raw.code !== 0) lines.push(`[exit ${raw.code}]`);
    else if (raw.signal !== null && !raw.stoppedByUs) lines.push(`[signal ${raw.signal}]`);
    return lines.join('\n');
  }

  private register(line: string): void {
    const t = grantText.exec(line);
    if (t) this.assign(BigInt('0x' + t[1]));
    const j = grantJson.exec(line);
    if (j) this.assign(BigInt(j[1]!));
  }

  private assign(id: bigint): void {
    if (this.tokenById.has(id)) return;
    const tok = `L${this.tokenById.size + 1}`;
    this.tokenById.set(id, tok);
    this.idByToken.set(tok, id);
  }

  private hexToken(hex: string): string | undefined {
    return this.tokenById.get(BigInt('0x' + hex));
  }

  private rewrite(line: string, opts: Pick<StepOptions, 'remaining'>): string {
    let l = line;
    // Lease ids: etcdctl prints them as %016x in text output and as decimal int64 in JSON/fields.
    l = l.replace(/\blease ([0-9a-f]{16})\b/g, (m, hex: string) => {
      const tok = this.hexToken(hex);
      return tok ? `lease <${tok}>` : m;
    });
    l = l.replace(/^([0-9a-f]{16})$/, (m, hex: string) => {
      const tok = this.hexToken(hex);
      return tok ? `<${tok}>` : m;
    });
    l = l.replace(/"(ID|id|lease|Lease)"(\s*:\s*)(\d+)/g, (m, key: string, colon: string, dec: string) => {
      const tok = this.tokenById.get(BigInt(dec));
      return tok ? `"${key}"${colon}<${tok}>` : m;
    });
    // Cluster identity and raft position.
    l = l
      .replace(/"cluster_id":\d+/g, '"cluster_id":<CLUSTER_ID>')
      .replace(/"member_id":\d+/g, '"member_id":<MEMBER_ID>')
      .replace(/"raft_term":\d+/g, '"raft_term":<RAFT_TERM>')
      .replace(/"raft_index":\d+/g, '"raft_index":<RAFT_INDEX>')
      .replace(/^"ClusterID" : \d+$/, '"ClusterID" : <CLUSTER_ID>')
      .replace(/^"MemberID" : \d+$/, '"MemberID" : <MEMBER_ID>')
      .replace(/^"RaftTerm" : \d+$/, '"RaftTerm" : <RAFT_TERM>');
    // Where the server listens and how fast it answered.
    l = l.split(this.endpoint).join('<ENDPOINT>');
    l = l.replace(/\btook = [0-9.]+[a-zµ]+/g, 'took = <DURATION>').replace(/"took":"[0-9.]+[a-zµ]+"/g, '"took":"<DURATION>"');
    // Keys attached to a lease come out of a hash set: their order means nothing.
    l = l
      .replace(/attached keys\(\[(.*)\]\)/, (_m, inner: string) => {
        return `attached keys([${inner.split(' ').filter(Boolean).sort().join(' ')}])`;
      })
      .replace(/"keys":\[([^\]]*)\]/, (_m, inner: string) => {
        return `"keys":[${inner.split(',').filter(Boolean).sort().join(',')}]`;
      });
    // Seconds left on a lease: tolerated ±1 around the value the script names.
    const n = opts.remaining;
    if (n !== null) {
      const fuzz = (v: string) => (Number(v) - n <= 1 && n - Number(v) <= 3 ? `${n}±1` : v);
      l = l
        .replace(/remaining\((-?\d+)s\)/g, (_m, v: string) => `remaining(${fuzz(v)}s)`)
        .replace(/"ttl":(-?\d+)/g, (_m, v: string) => `"ttl":${fuzz(v)}`);
    }
    return l;
  }
}

/** Split output into lines, dropping the final newline and any trailing blank lines. */
function splitLines(s: string): string[] {
  const lines = s.replace(/\r\n/g, '\n').split('\n');
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}
