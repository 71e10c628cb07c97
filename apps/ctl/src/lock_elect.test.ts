// kvctl lock / elect versus etcdctl 3.4: the same steps run with each tool, each against a fresh
// server of the same kind (so revisions agree); stdout, exit code and the "Error:" lines must be
// identical once lease ids are normalised. Long-running steps (a held lock, a campaign, an
// observer) are ended with SIGINT, as a user's Ctrl-C. Against real etcd, and kvd when built.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client } from '@kv/client';
import { ETCDCTL_BIN, serverKinds, startServer, until, type RunningServer } from '@kv/testkit';
import { describe, expect, it } from 'vitest';

const KVCTL_BIN = fileURLToPath(new URL('../bin/kvctl', import.meta.url));
type Tool = 'etcdctl' | 'kvctl';

interface Proc {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  done: Promise<number | null>;
}

function start(tool: Tool, endpoint: string, args: string[]): Proc {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ETCDCTL_API: '3' };
  const child = spawn(tool === 'etcdctl' ? ETCDCTL_BIN : KVCTL_BIN, [`--endpoints=${endpoint}`, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  // Bounded: a step that hangs is killed after 30 s (and then fails its comparison).
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const done = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    }),
  );
  return { child, out: () => out, err: () => err, done };
}

/** Normalise lease ids: `<name>/<lease hex>` → `<name>/LEASE`. */
const norm = (s: string) => s.replace(/\/[0-9a-f]{1,16}\b/g, '/LEASE');
const errors = (s: string) => s.split('\n').filter((l) => l.startsWith('Error:'));

interface Outcome {
  step: string;
  stdout: string;
  code: number | null;
  error: string[];
}

async function finish(step: string, p: Proc, compareStdout = true): Promise<Outcome> {
  const code = await p.done;
  return { step, stdout: compareStdout ? norm(p.out()) : '', code, error: errors(p.err()) };
}

const interrupt = async (p: Proc) => {
  p.child.kill('SIGINT');
  return p.done;
};

async function transcript(tool: Tool, server: RunningServer): Promise<Outcome[]> {
  const ep = server.endpoint;
  const client = new Client({ endpoints: [ep], requestTimeoutMs: 10_000 });
  const count = async (prefix: string) => Number((await client.getPrefix(prefix)).kvs.length);
  const out: Outcome[] = [];
  try {
    // Argument errors (etcdctl also prints the usage on stdout for the first; not compared).
    out.push(await finish('lock without name', start(tool, ep, ['lock']), false));
    out.push(await finish('elect without proposal', start(tool, ep, ['elect', 'e'])));
    out.push(await finish('elect -l with proposal', start(tool, ep, ['elect', '-l', 'e', 'p'])));
    out.push(await finish('elect without args', start(tool, ep, ['elect'])));
    // A command run under the lock sees ETCD_LOCK_KEY and ETCD_LOCK_REV; its failure is the exit.
    out.push(await finish('lock exec', start(tool, ep, ['lock', 'lk', '--', 'sh', '-c', 'echo "$ETCD_LOCK_KEY $ETCD_LOCK_REV"; exit 3'])));
    out.push(await finish('lock exec missing binary', start(tool, ep, ['lock', 'lk', 'no-such-command-kv'])));
    expect(await count('lk/')).toBe(0);
    // Held until Ctrl-C; a second waiter is interrupted while waiting.
    const holder = start(tool, ep, ['lock', '--ttl', '20', 'lk']);
    await until(() => holder.out().includes('\n\n'), { what: `${tool} lock printed its key`, timeoutMs: 30_000 });
    const waiter = start(tool, ep, ['lock', 'lk']);
    await until(async () => (await count('lk/')) === 2, { what: 'the waiter queued', timeoutMs: 30_000 });
    await interrupt(waiter);
    out.push(await finish('interrupted waiter', waiter));
    await interrupt(holder);
    out.push(await finish('interrupted holder', holder));
    expect(await count('lk/')).toBe(0);
    // A campaign and an observer; Ctrl-C resigns.
    const leader = start(tool, ep, ['elect', 'el', 'v1']);
    await until(() => leader.out().includes('v1\n'), { what: `${tool} elected`, timeoutMs: 30_000 });
    const observer = start(tool, ep, ['elect', '-l', 'el']);
    await until(() => observer.out().includes('v1\n'), { what: `${tool} observed`, timeoutMs: 30_000 });
    await interrupt(leader);
    out.push(await finish('interrupted leader', leader));
    // The observer stays (waiting for a new leader) until interrupted.
    await client.put('el/zz', 'v2');
    await until(() => observer.out().includes('v2\n'), { what: `${tool} observed v2`, timeoutMs: 30_000 });
    await interrupt(observer);
    out.push(await finish('interrupted observer', observer));
    expect(await count('el/')).toBe(1);
  } finally {
    client.close();
  }
  return out;
}

for (const { kind, skip } of serverKinds()) {
  describe.skipIf(skip !== undefined)(`kvctl lock/elect against ${kind}`, () => {
    it('prints and exits as etcdctl does', { timeout: 240_000 }, async () => {
      const results: Record<Tool, Outcome[]> = { etcdctl: [], kvctl: [] };
      for (const tool of ['etcdctl', 'kvctl'] as const) {
        const server = await startServer(kind);
        try {
          results[tool] = await transcript(tool, server);
        } finally {
          await server.stop();
        }
      }
      expect(results.kvctl).toEqual(results.etcdctl);
      // And what etcdctl does is what we think it does.
      const e = Object.fromEntries(results.etcdctl.map((o) => [o.step, o]));
      expect(e['lock exec'].stdout).toMatch(/^lk\/LEASE \d+\n$/);
      expect(e['lock exec'].error).toEqual(['Error: exit status 3']);
      expect(e['interrupted waiter'].error).toEqual(['Error: context canceled']);
      expect(e['interrupted holder']).toMatchObject({ stdout: 'lk/LEASE\n\n', code: 0 });
      expect(e['interrupted observer'].stdout).toBe('el/LEASE\nv1\nel/zz\nv2\n');
    });
  });
}
