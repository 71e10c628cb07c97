// The client port's health endpoints, in etcd 3.5's shapes (kvd serves them over every client
// URL, as etcd's HTTP mux does):
//
//   GET /health   {"health":"true|false","reason":"..."}: false when an alarm is active (unless
//                 `?exclude=NOSPACE`), when there is no leader (unless `?serializable=true`), or
//                 when a read (linearizable; serializable with `?serializable=true`) fails or
//                 outlasts the request timeout; and (kvd's own reason) "NOT PUBLISHED" until the
//                 member's name and client URLs are applied — etcd serves nothing on its client
//                 port before that. 503 when false. (3.4 sends only "health".)
//   GET /livez    text: the member can serve a local read (check serializable_read).
//   GET /readyz   text: no CORRUPT alarm (data_corruption), a local read (serializable_read) and a
//                 read through consensus (linearizable_read) work.
//                 `ok\n` with 200; `[-]<check> failed: <why>\n` lines with 503; `?verbose` lists
//                 every check on success too; `?exclude=<check>` skips one; `/livez/<check>` and
//                 `/readyz/<check>` run one.
//
// Any other method gets 405 with `Allow: GET`. The probes run as the member itself (root), so
// they work with auth enabled, as etcd's (AuthStore().WithRoot).
import { etcdserverpb } from '@kv/api';

/** What the endpoints look at: the member, behind the least it needs. */
export interface HealthProbe {
  /** The active alarms' types. */
  alarms(): etcdserverpb.AlarmType[];
  hasLeader(): boolean;
  /** The member's name and client URLs have been applied through the log (etcd's ReadyNotify). */
  published(): boolean;
  /** A keys-only read of one key: local (serializable) or confirmed through consensus. Throws on failure. */
  read(serializable: boolean): Promise<void>;
  /** The longest a read may take before the probe counts it failed (etcd's request timeout). */
  readonly timeoutMs: number;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Go's http.Error: the text plus a newline, as text/plain with nosniff. */
function httpError(status: number, text: string, extra: Record<string, string> = {}): HttpAnswer {
  return {
    status,
    headers: { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', ...extra },
    body: `${text}\n`,
  };
}

type Check = (p: HealthProbe) => Promise<void>;

/** A read that fails after the probe's timeout (the read itself is left to finish or fail on its own). */
async function timedRead(p: HealthProbe, serializable: boolean): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('context deadline exceeded')), p.timeoutMs);
  });
  try {
    await Promise.race([p.read(serializable), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const readCheck =
  (serializable: boolean): Check =>
  (p) =>
    timedRead(p, serializable);

const alarmCheck =
  (type: etcdserverpb.AlarmType): Check =>
  async (p) => {
    if (p.alarms().includes(type)) throw new Error(`alarm activated: ${etcdserverpb.alarmTypeToJSON(type)}`);
  };

/** The checks of /livez and /readyz, in the order they run and are listed. */
const registries: Record<'livez' | 'readyz', [string, Check][]> = {
  livez: [['serializable_read', readCheck(true)]],
  readyz: [
    ['data_corruption', alarmCheck(etcdserverpb.AlarmType.CORRUPT)],
    ['serializable_read', readCheck(true)],
    ['linearizable_read', readCheck(false)],
  ],
};

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

async function health(p: HealthProbe, q: URLSearchParams): Promise<HttpAnswer> {
  const excluded = new Set(q.getAll('exclude').filter((s) => s !== ''));
  const serializable = q.get('serializable') === 'true';
  const verdict = async (): Promise<string> => {
    for (const a of p.alarms()) {
      const name = etcdserverpb.alarmTypeToJSON(a);
      if (excluded.has(name)) continue;
      return a === etcdserverpb.AlarmType.NOSPACE
        ? 'ALARM NOSPACE'
        : a === etcdserverpb.AlarmType.CORRUPT
          ? 'ALARM CORRUPT'
          : 'ALARM UNKNOWN';
    }
    if (!serializable && !p.hasLeader()) return 'RAFT NO LEADER';
    // etcd answers nothing on its client port before this; kvd serves, so it says why it is not
    // healthy yet (a member list read now would show it without client URLs).
    if (!p.published()) return 'NOT PUBLISHED';
    try {
      await timedRead(p, serializable);
    } catch (err) {
      return `RANGE ERROR:${message(err)}`;
    }
    return '';
  };
  const reason = await verdict();
  const body = JSON.stringify({ health: reason === '' ? 'true' : 'false', reason });
  if (reason !== '') return httpError(503, body);
  return { status: 200, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body };
}

async function runChecks(p: HealthProbe, checks: [string, Check][], verbose: boolean): Promise<HttpAnswer> {
  let out = '';
  let failed = false;
  for (const [name, check] of checks) {
    try {
      await check(p);
      out += `[+]${name} ok\n`;
    } catch (err) {
      failed = true;
      out += `[-]${name} failed: ${message(err)}\n`;
    }
  }
  // Failures always carry the detail; a success only with ?verbose.
  if (failed) return httpError(503, out); // Go's http.Error adds a newline after the last line's own
  return {
    status: 200,
    headers: { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' },
    body: `${verbose ? out : ''}ok\n`,
  };
}

/**
 * The answer for a health path, or undefined when `path` is not one of them. `query` is the
 * request's query string (without `?`).
 */
export async function answerHealth(method: string, path: string, query: string, p: HealthProbe): Promise<HttpAnswer | undefined> {
  const m = /^\/(health|livez|readyz)(?:\/([^/]+))?$/.exec(path);
  if (!m || (m[1] === 'health' && m[2] !== undefined)) return undefined;
  const kind = m[1] as 'health' | 'livez' | 'readyz';
  let checks: [string, Check][] | undefined;
  if (kind !== 'health') {
    const all = registries[kind];
    checks = m[2] === undefined ? all : all.filter(([name]) => name === m[2]);
    if (checks.length === 0) return undefined; // an unknown check is a 404, as etcd's mux
  }
  if (method !== 'GET') return httpError(405, 'Method Not Allowed', { Allow: 'GET' });
  const q = new URLSearchParams(query);
  if (kind === 'health') return health(p, q);
  // As etcd: excluding a check that does not exist does not fail the request.
  const excluded = new Set(m[2] === undefined ? q.getAll('exclude') : []);
  return runChecks(
    p,
    checks!.filter(([name]) => !excluded.has(name)),
    q.has('verbose'),
  );
}
