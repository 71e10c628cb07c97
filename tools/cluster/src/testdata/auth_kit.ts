// What the auth tests of tools/cluster share (test-only: src/**/testdata is left out of the build):
// etcdctl 3.4 as the client (its answer as one comparable line or block), a raw gRPC caller that
// keeps one token (so a test sees whether *that* token still works, with no client re-login
// hiding it), and the auth buckets of a snapshot file (etcd's `auth`, `authUsers`, `authRoles`).
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { authpb, etcdserverpb } from '@kv/api';
import { openBolt } from '@kv/mvcc';
import { ETCDCTL_BIN, runProcess } from '@kv/testkit';
import { readFile } from 'node:fs/promises';
import type { ServerKind } from '@kv/testkit';

export const ROOT = 'root:rootpw';
export const ALICE = 'alice:alicepw';
export const BOB = 'bob:bobpw';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Errors of a cluster in transition (an election, a member just killed or restarted): the same
 * command is asked again. Never an auth answer (permission denied, invalid token, auth failed):
 * those are results, and a retry would hide a wrong one.
 */
const TRANSIENT =
  /request timed out|leader changed|no leader|context deadline exceeded|code = Unavailable|connection refused|too many requests|request cancelled|timed out waiting for read index|not capable|raft: stopped/i;

/**
 * Runs `etcdctl --endpoints=<endpoints> [--user=<user>] <args>`; the result is stdout (trimmed)
 * when it exits 0, otherwise its `Error:` lines. Transient cluster errors are asked again, at most
 * `attempts` times (bounded, a second apart).
 */
export async function etcdctl(endpoints: readonly string[], user: string | undefined, args: string[], attempts = 20): Promise<string> {
  const argv = [
    `--endpoints=${endpoints.join(',')}`,
    '--dial-timeout=5s',
    '--command-timeout=20s',
    ...(user === undefined ? [] : [`--user=${user}`]),
    ...args,
  ];
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ETCDCTL_API: '3' };
  for (let attempt = 1; ; attempt++) {
    const r = await runProcess(ETCDCTL_BIN, argv, { env, timeoutMs: 90_000 });
    if (r.code === 0) return r.stdout.trim();
    const err = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('Error:'))
      .join('\n');
    const text = err || `exit ${r.code}${r.timedOut ? ' (timed out)' : ''}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`;
    if (attempt >= attempts || !(TRANSIENT.test(text) || r.timedOut)) return text;
    await sleep(1000);
  }
}

/** `etcdctl` that must succeed. */
export async function etcdctlOk(endpoints: readonly string[], user: string | undefined, args: string[]): Promise<string> {
  const out = await etcdctl(endpoints, user, args);
  if (out.startsWith('Error:') || out.startsWith('exit ')) throw new Error(`etcdctl ${args.join(' ')}: ${out}`);
  return out;
}

/**
 * The users, roles and permissions both auth tests start from (etcdctl 3.4, before auth enable):
 * alice reads /pub/ (prefix) and reads+writes /alice; bob writes from /w on (from-key); carol
 * has no password (`--no-password`: she can never log in with one).
 */
export const SETUP: string[][] = [
  ['user', 'add', ROOT],
  ['role', 'add', 'root'],
  ['user', 'grant-role', 'root', 'root'],
  ['role', 'add', 'reader'],
  ['role', 'grant-permission', 'reader', 'read', '/pub/', '--prefix'],
  ['role', 'grant-permission', 'reader', 'readwrite', '/alice'],
  ['role', 'add', 'writer'],
  ['role', 'grant-permission', 'writer', 'write', '/w', '--from-key'],
  ['user', 'add', ALICE],
  ['user', 'grant-role', 'alice', 'reader'],
  ['user', 'add', BOB],
  ['user', 'grant-role', 'bob', 'writer'],
  ['user', 'add', 'carol', '--no-password'],
  ['user', 'grant-role', 'carol', 'reader'],
  ['put', '/pub/x', 'public'],
  ['put', '/secret', 'hidden'],
  ['auth', 'enable'],
];

/** [user, etcdctl args, the answer]: one enforcement check, asked through one member. */
export type Check = [user: string | undefined, args: string[], expected: string];

export const DENIED = 'Error: etcdserver: permission denied';
export const AUTH_FAILED = 'Error: etcdserver: authentication failed, invalid user ID or password';

/**
 * A password given for a password-less user: etcd 3.4 answers with its own words (and so tells
 * that the user exists); kv answers as for any failed login (docs/security.md, "Where kv is
 * stricter than etcd 3.4").
 */
export const NO_PASSWORD_LOGIN: Record<ServerKind, string> = {
  etcd: 'Error: rpc error: code = Unknown desc = auth: authentication failed, password was given for no password user',
  kvd: AUTH_FAILED,
};

/** What the SETUP users may and may not do. */
export const before = (server: ServerKind): Check[] => [
  [ALICE, ['get', '/pub/x'], '/pub/x\npublic'],
  [ALICE, ['get', '/pub/x', '--consistency=s'], '/pub/x\npublic'],
  [ALICE, ['get', '/secret'], DENIED],
  [ALICE, ['get', '/secret', '--consistency=s'], DENIED],
  [ALICE, ['get', '/pub/', '--prefix', '--keys-only'], '/pub/x'],
  [ALICE, ['get', '', '--prefix'], DENIED],
  [ALICE, ['put', '/pub/y', 'v'], DENIED],
  [ALICE, ['put', '/alice', 'a'], 'OK'],
  [ALICE, ['get', '/alice', '--print-value-only'], 'a'],
  [BOB, ['put', '/w/1', 'b'], 'OK'],
  [BOB, ['put', '/zzz', 'b'], 'OK'],
  [BOB, ['put', '/v', 'b'], DENIED],
  [BOB, ['get', '/w/1'], DENIED],
  ['carol:anything', ['get', '/pub/x'], NO_PASSWORD_LOGIN[server]],
  ['alice:wrong', ['get', '/pub/x'], AUTH_FAILED],
  [undefined, ['get', '/pub/x'], 'Error: etcdserver: user name is empty'],
  [ROOT, ['get', '/secret', '--print-value-only'], 'hidden'],
];

/** Asks every check through `endpoints`; the answers, one line per check, for toEqual. */
export async function enforce(endpoints: readonly string[], checks: Check[]): Promise<string[]> {
  const out: string[] = [];
  for (const [user, args] of checks) out.push(`${user ?? '(none)'} ${args.join(' ')} → ${await etcdctl(endpoints, user, args)}`);
  return out;
}
export const expected = (checks: Check[]) => checks.map(([user, args, want]) => `${user ?? '(none)'} ${args.join(' ')} → ${want}`);

/** What an admin sees of the auth state through `endpoints` (root's etcdctl): one block of text. */
export async function authView(endpoints: readonly string[]): Promise<string> {
  const parts: string[] = [];
  const users = (await etcdctlOk(endpoints, ROOT, ['user', 'list'])).split('\n');
  const roles = (await etcdctlOk(endpoints, ROOT, ['role', 'list'])).split('\n');
  parts.push(`users: ${users.join(' ')}`, `roles: ${roles.join(' ')}`);
  for (const u of users) parts.push(await etcdctlOk(endpoints, ROOT, ['user', 'get', u, '--detail']));
  for (const r of roles) parts.push(await etcdctlOk(endpoints, ROOT, ['role', 'get', r]));
  return parts.join('\n');
}

// --- raw gRPC with a token of one's own ---

export interface RawAnswer {
  /** 'ok' or the error's text (etcd's `etcdserver: ...`). */
  result: string;
  value?: string;
}

const md = (token: string) => {
  const m = new Metadata();
  m.set('token', token);
  return m;
};

function call<Res>(fn: (md: Metadata, opts: { deadline: number }, cb: (e: ServiceError | null, r: Res) => void) => void, token: string) {
  return new Promise<Res>((resolve, reject) => fn(md(token), { deadline: Date.now() + 20_000 }, (e, r) => (e ? reject(e) : resolve(r))));
}

/** One member's Auth and KV services over one channel each; close() when done. */
export class RawMember {
  readonly auth: etcdserverpb.AuthClient;
  readonly kv: etcdserverpb.KVClient;

  constructor(readonly endpoint: string) {
    this.auth = new etcdserverpb.AuthClient(endpoint, credentials.createInsecure());
    this.kv = new etcdserverpb.KVClient(endpoint, credentials.createInsecure());
  }

  /** Authenticate here: the token this member issued. */
  async login(name: string, password: string): Promise<string> {
    const req = etcdserverpb.AuthenticateRequest.fromPartial({ name, password });
    const res = await new Promise<etcdserverpb.AuthenticateResponse>((resolve, reject) =>
      this.auth.authenticate(req, new Metadata(), { deadline: Date.now() + 20_000 }, (e, r) => (e ? reject(e) : resolve(r))),
    );
    return res.token;
  }

  /** A linearizable Range of one key with `token`. */
  async get(token: string, key: string): Promise<RawAnswer> {
    const req = etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from(key) });
    return answer(async () => {
      const r = await call<etcdserverpb.RangeResponse>((m, o, cb) => this.kv.range(req, m, o, cb), token);
      return r.kvs[0] ? Buffer.from(r.kvs[0].value).toString() : '';
    });
  }

  async put(token: string, key: string, value: string): Promise<RawAnswer> {
    const req = etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from(value) });
    return answer(async () => {
      await call<etcdserverpb.PutResponse>((m, o, cb) => this.kv.put(req, m, o, cb), token);
      return undefined;
    });
  }

  /** kv's AuthStatus (etcd 3.5's RPC; etcd 3.4 answers Unimplemented). */
  async authStatus(token: string): Promise<{ enabled: boolean; authRevision: bigint }> {
    const r = await call<etcdserverpb.AuthStatusResponse>((m, o, cb) => this.auth.authStatus({}, m, o, cb), token);
    return { enabled: r.enabled, authRevision: r.authRevision };
  }

  close(): void {
    this.auth.close();
    this.kv.close();
  }
}

/** Transient errors of a cluster in transition (as TRANSIENT, for gRPC's texts). */
const RAW_TRANSIENT = /leader changed|no leader|request timed out|Deadline exceeded|No connection established|UNAVAILABLE|read index/i;

async function answer(f: () => Promise<string | undefined>): Promise<RawAnswer> {
  for (let attempt = 1; ; attempt++) {
    try {
      const value = await f();
      return value === undefined ? { result: 'ok' } : { result: 'ok', value };
    } catch (err) {
      const e = err as ServiceError;
      const text = e.details || e.message;
      if (attempt < 20 && RAW_TRANSIENT.test(text)) {
        await sleep(1000);
        continue;
      }
      return { result: text };
    }
  }
}

// --- a snapshot file's auth buckets ---

export interface AuthBuckets {
  /** The `auth` bucket: authEnabled, authRevision (hex values). */
  auth: Record<string, string>;
  /** authRoles: role name -> the authpb.Role record (hex), byte for byte. */
  roles: Record<string, string>;
  /**
   * authUsers: name -> the record's fields with the password hash replaced by its shape ('' or
   * `bcrypt`, and its cost); `canonical`: the record is the canonical protobuf encoding of its
   * fields (as Go's and ts-proto's encoders write it: fields in order, the options message present).
   */
  users: Record<string, { fields: string; password: string; cost: number | undefined; canonical: boolean }>;
  /** authRevision as a number. */
  revision: bigint;
  enabled: boolean;
}

/** The auth buckets of a snapshot file (its 32-byte sha256 trailer cut off). */
export async function authBucketsOf(file: string): Promise<AuthBuckets> {
  const buf = await readFile(file);
  const db = openBolt(buf.subarray(0, buf.length - 32));
  const records = (bucket: string) => [...db.entries(Buffer.from(bucket))];
  const auth: Record<string, string> = {};
  for (const [k, v] of records('auth')) auth[k.toString()] = v.toString('hex');
  const roles: Record<string, string> = {};
  for (const [k, v] of records('authRoles')) roles[k.toString()] = v.toString('hex');
  const users: AuthBuckets['users'] = {};
  for (const [k, v] of records('authUsers')) {
    const u = authpb.User.decode(v);
    const hash = Buffer.from(u.password).toString();
    // Go's bcrypt writes $2a$, node's $2b$: the same algorithm, and each side verifies the other's.
    const m = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/.exec(hash);
    const fields = JSON.stringify({ name: Buffer.from(u.name).toString(), roles: u.roles, options: u.options ?? 'absent' });
    users[k.toString()] = {
      fields,
      password: hash === '' ? '' : m ? 'bcrypt' : `not bcrypt: ${hash}`,
      cost: m ? Number(m[1]) : undefined,
      canonical: Buffer.from(authpb.User.encode(u).finish()).equals(v),
    };
  }
  const rev = auth.authRevision;
  return {
    auth,
    roles,
    users,
    revision: rev === undefined ? 0n : Buffer.from(rev, 'hex').readBigUInt64BE(),
    enabled: auth.authEnabled === '01',
  };
}

/** A snapshot file's auth, authUsers and authRoles buckets, every record as hex, byte for byte. */
export async function rawAuthBucketsOf(file: string): Promise<Record<string, [string, string][]>> {
  const buf = await readFile(file);
  const db = openBolt(buf.subarray(0, buf.length - 32));
  const out: Record<string, [string, string][]> = {};
  for (const bucket of ['auth', 'authUsers', 'authRoles']) {
    out[bucket] = [...db.entries(Buffer.from(bucket))].map(([k, v]) => [k.toString('hex'), v.toString('hex')]);
  }
  return out;
}
