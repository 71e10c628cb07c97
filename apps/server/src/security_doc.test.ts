// docs/security.md "TLS + auth step by step" runs as written: its sh block, with kvd from this
// repository first on PATH and free loopback ports in place of 12379…32380, in a fresh directory.
// Every member it starts is stopped by the PID it recorded (kvd.pids), also when the block fails.
import { KVD_BIN, freePorts, opensslUnavailable, runProcess } from '@kv/testkit';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

function haveEtcdctl(): boolean {
  try {
    execFileSync('etcdctl', ['version'], { stdio: 'ignore', env: { ...process.env, ETCDCTL_API: '3' } });
    return true;
  } catch {
    return false;
  }
}
const missing = opensslUnavailable() ?? (haveEtcdctl() ? undefined : 'etcdctl is not installed');
if (missing) console.warn(`skipping the security.md walk-through: ${missing}`);

/** The sh block under the heading `## TLS + auth step by step`. */
function walkthrough(): string {
  const doc = readFileSync(new URL('../../../docs/security.md', import.meta.url), 'utf8');
  const at = doc.indexOf('## TLS + auth step by step');
  const m = /```sh\n([\s\S]*?)```/.exec(doc.slice(at));
  if (at < 0 || !m) throw new Error('docs/security.md: no sh block under "TLS + auth step by step"');
  return m[1]!;
}

describe.skipIf(missing !== undefined)('docs/security.md: TLS + auth step by step', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kv-security-doc-'));
  const pidsFile = join(dir, 'kvd.pids');

  afterAll(() => {
    if (existsSync(pidsFile)) {
      for (const pid of readFileSync(pidsFile, 'utf8').split(/\s+/).filter(Boolean).map(Number)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already stopped by the block's last step
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes the certificates, starts the cluster, enables auth, names users by certificate and revokes one', async () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    symlinkSync(KVD_BIN, join(bin, 'kvd'));
    const ports = await freePorts(6);
    // ${i}2379 / ${i}2380 in the loop, N2379 / N2380 elsewhere: the same free port for each.
    let script = walkthrough().replaceAll('${i}2379', '${C[$i]}').replaceAll('${i}2380', '${P[$i]}');
    for (const i of [1, 2, 3]) {
      script = script.replaceAll(`${i}2379`, String(ports[2 * (i - 1)])).replaceAll(`${i}2380`, String(ports[2 * (i - 1) + 1]));
    }
    const prelude = `C=(x ${ports[0]} ${ports[2]} ${ports[4]}); P=(x ${ports[1]} ${ports[3]} ${ports[5]})\n`;
    const r = await runProcess('bash', ['-eu', '-c', prelude + script], {
      cwd: dir,
      env: { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: dir },
      timeoutMs: 240_000,
    });
    const logs = [1, 2, 3].map((i) => (existsSync(join(dir, `m${i}.log`)) ? readFileSync(join(dir, `m${i}.log`), 'utf8') : '')).join('\n');
    const why = `exit ${r.code}${r.timedOut ? ' (timed out)' : ''}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr.slice(-4000)}\n--- logs\n${logs.slice(-4000)}`;
    expect(r.code, why).toBe(0);
    const out = r.stdout;
    expect(out, why).toContain('Authentication Enabled');
    expect(out, why).toMatch(/^v1$/m); // alice's get of /app/config
    expect(out, why).toContain('alice: denied, as she should be');
    expect(r.stderr, why).toContain('etcdserver: permission denied');
    expect(out, why).toMatch(/^alice\nroot$/m); // root's user list
    expect(out, why).toContain('alice: refused, revoked');
    expect(out.trimEnd().endsWith('v1'), why).toBe(true); // root still reads after alice's revocation
    expect(logs, why).toMatch(/transport: certificate serial [0-9a-f]+ revoked/);
  }, 300_000);
});
