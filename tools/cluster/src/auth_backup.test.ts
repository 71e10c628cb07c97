// Backups of an auth-enabled store both ways between kvd and real etcd 3.4, with etcd's own tools
// (real processes, loopback, free ports, every process stopped by PID):
// (a) kvd with users, roles and prefix / from-key / single-key permissions, auth enabled →
//     `etcdctl snapshot save` (as root) → `etcdctl snapshot restore` → etcd starts from it and
//     enforces the same auth: the same `user list` / `role list` / `user get --detail` / `role
//     get` output, root logs in with the same password, the limited users get and are denied the
//     same keys; a snapshot etcd then saves has the auth buckets of kvd's file byte for byte
//     (authEnabled, authRevision, every user record with its bcrypt hash, every role record).
// (b) the reverse: etcd → `etcdctl snapshot save` → `kvctl snapshot restore` → kvd enforces it
//     the same way, AuthStatus gives etcd's auth revision, and kvd's own snapshot has etcd's
//     auth buckets byte for byte.
// Either way the restored server takes a further auth change at the next auth revision.
import { ETCDCTL_BIN, runProcess } from '@kv/testkit';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerKind, unavailableReason } from './binaries.js';
import type { MemberProcess } from './member.js';
import { type OneMember, oneMemberLayout, restoreFlags, startOneMember } from './testdata/one_member.js';
import {
  authBucketsOf,
  authView,
  before,
  DENIED,
  enforce,
  etcdctl,
  etcdctlOk,
  expected,
  RawMember,
  rawAuthBucketsOf,
  ROOT,
  SETUP,
} from './testdata/auth_kit.js';

const KVCTL_BIN = fileURLToPath(new URL('../../../apps/ctl/bin/kvctl', import.meta.url));
const skip =
  unavailableReason('kvd') ??
  unavailableReason('etcd') ??
  (existsSync(KVCTL_BIN) ? undefined : `${KVCTL_BIN} missing`) ??
  (existsSync(ETCDCTL_BIN) ? undefined : `${ETCDCTL_BIN} not found`);

let base: string;
const running: MemberProcess[] = [];
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'kv-auth-backup-'));
});
afterAll(async () => {
  for (const m of running.splice(0)) {
    await m.stop();
    await m.closeLog();
  }
  await rm(base, { recursive: true, force: true });
});

const start = (kind: ServerKind, l: OneMember, dir: string) => startOneMember(kind, l, dir, running, ['--bcrypt-cost=4']);
const layout = oneMemberLayout;

async function stop(m: MemberProcess): Promise<void> {
  await m.stop();
  await m.closeLog();
  running.splice(running.indexOf(m), 1);
}

async function restore(tool: 'etcdctl' | 'kvctl', file: string, l: OneMember, dir: string): Promise<void> {
  const bin = tool === 'kvctl' ? KVCTL_BIN : ETCDCTL_BIN;
  const r = await runProcess(bin, ['snapshot', 'restore', file, ...restoreFlags(l, dir)], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ETCDCTL_API: '3' },
    timeoutMs: 120_000,
  });
  if (r.code !== 0) throw new Error(`${tool} snapshot restore exited ${r.code}: ${r.stderr}`);
}

/** Sets up auth on a fresh server, saves a snapshot as root; what an admin saw, and the file. */
async function source(kind: ServerKind, tag: string): Promise<{ view: string; file: string }> {
  const l = await layout(`${tag}src`, `${tag}-source`);
  const m = await start(kind, l, join(base, `${tag}-${kind}-src`));
  const ep = [l.client];
  const file = join(base, `${tag}-${kind}.snapshot.db`);
  try {
    for (const cmd of SETUP) await etcdctlOk(ep, undefined, cmd);
    expect(await enforce(ep, before(kind))).toEqual(expected(before(kind)));
    const view = await authView(ep);
    expect(await etcdctlOk(ep, ROOT, ['snapshot', 'save', file])).toContain(`Snapshot saved at ${file}`);
    return { view, file };
  } finally {
    await stop(m);
  }
}

/** The restored server, checked: the same view, enforcement, auth buckets; one more change. */
async function checkRestored(kind: ServerKind, l: OneMember, from: { view: string; file: string }, tag: string): Promise<void> {
  const ep = [l.client];
  expect(await authView(ep)).toBe(from.view);
  expect(await enforce(ep, before(kind))).toEqual(expected(before(kind)));
  const mine = join(base, `${tag}-${kind}-restored.snapshot.db`);
  await etcdctlOk(ep, ROOT, ['snapshot', 'save', mine]);
  // The auth buckets went through unchanged: every record, password hashes included.
  expect(await rawAuthBucketsOf(mine)).toEqual(await rawAuthBucketsOf(from.file));
  const was = await authBucketsOf(from.file);
  expect(was.enabled).toBe(true);
  if (kind === 'kvd') {
    const raw = new RawMember(l.client);
    try {
      const token = await raw.login('root', 'rootpw');
      expect(await raw.authStatus(token)).toEqual({ enabled: true, authRevision: was.revision });
    } finally {
      raw.close();
    }
  }
  // It takes a further change, at the next auth revision.
  await etcdctlOk(ep, ROOT, ['user', 'add', 'eve:evepw']);
  expect(await etcdctl(ep, 'eve:evepw', ['get', '/pub/x'])).toBe(DENIED);
  const after = join(base, `${tag}-${kind}-after.snapshot.db`);
  await etcdctlOk(ep, ROOT, ['snapshot', 'save', after]);
  expect((await authBucketsOf(after)).revision).toBe(was.revision + 1n);
}

describe.skipIf(skip !== undefined)('auth-enabled backups between kvd and real etcd 3.4', () => {
  it('(a) kvd → etcdctl snapshot save → etcdctl snapshot restore → etcd enforces the same auth', async () => {
    const from = await source('kvd', 'a');
    const l = await layout('aetcd', 'etcd-from-kv');
    const dir = join(base, 'a-etcd');
    await restore('etcdctl', from.file, l, dir);
    const e = await start('etcd', l, dir);
    try {
      await checkRestored('etcd', l, from, 'a');
    } finally {
      await stop(e);
    }
  }, 300_000);

  it('(b) etcd → etcdctl snapshot save → kvctl snapshot restore → kvd enforces the same auth', async () => {
    const from = await source('etcd', 'b');
    const l = await layout('bkvd', 'kv-from-etcd');
    const dir = join(base, 'b-kvd');
    await restore('kvctl', from.file, l, dir);
    const k = await start('kvd', l, dir);
    try {
      await checkRestored('kvd', l, from, 'b');
    } finally {
      await stop(k);
    }
  }, 300_000);
});
