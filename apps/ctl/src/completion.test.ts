// `kvctl completion bash|zsh|fish` and the `__complete` protocol behind them: the bash script is
// loaded into a real bash, which is asked to complete command lines as it would on <TAB>.
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const KVCTL_BIN = fileURLToPath(new URL('../bin/kvctl', import.meta.url));
const env = { PATH: `${dirname(KVCTL_BIN)}:${process.env.PATH ?? '/usr/bin:/bin'}` };

function kvctl(...args: string[]) {
  const r = spawnSync(KVCTL_BIN, args, { env, encoding: 'utf8', timeout: 30_000 });
  return { stdout: r.stdout, stderr: r.stderr, code: r.status };
}

/** What bash offers for `line` (the cursor at its end) with kvctl's script loaded. */
function bashComplete(line: string): string[] {
  const script = `
source <(kvctl completion bash)
COMP_LINE=${JSON.stringify(line)}
COMP_POINT=\${#COMP_LINE}
__kvctl_complete
printf '%s\\n' "\${COMPREPLY[@]}"
`;
  const r = spawnSync('bash', ['-c', script], { env, encoding: 'utf8', timeout: 30_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => l !== '');
}

describe('kvctl completion', { timeout: 180_000 }, () => {
  it('__complete lists subcommands with descriptions and cobra directive', () => {
    const r = kvctl('__complete', 'member', '');
    expect(r.stdout).toBe(
      [
        'add\tAdds a member into the cluster',
        'list\tLists all members in the cluster',
        'promote\tPromotes a non-voting member in the cluster',
        'remove\tRemoves a member from the cluster',
        'update\tUpdates a member in the cluster',
        ':4',
        '',
      ].join('\n'),
    );
    expect(r.stderr).toBe('Completion ended with directive: ShellCompDirectiveNoFileComp\n');
  });

  it('__complete knows flags (the command own and the global ones) and flag values', () => {
    const flags = kvctl('__complete', 'member', 'add', '--p').stdout;
    expect(flags).toContain('--peer-urls\tcomma separated peer URLs for the new member.\n');
    expect(flags).toContain('--password\t');
    expect(flags.endsWith(':4\n')).toBe(true);
    expect(kvctl('__complete', 'get', '-w', 'j').stdout).toBe('json\n:4\n');
    expect(kvctl('__complete', 'get', '--write-out=t').stdout).toBe('--write-out=table\n:4\n');
    // A key: nothing to offer, the shell may complete files (directive 0), as etcdctl.
    expect(kvctl('__complete', 'get', '').stdout).toBe(':0\n');
    expect(kvctl('__complete', '--endpoints=127.0.0.1:1', 'mem').stdout).toBe('member\tMembership related commands\n:4\n');
  });

  it('bash completes commands, subcommands, flags and values through the script', () => {
    expect(bashComplete('kvctl mem')).toEqual(['member']);
    expect(bashComplete('kvctl member ')).toEqual(['add', 'list', 'promote', 'remove', 'update']);
    expect(bashComplete('kvctl member add --le')).toEqual(['--learner']);
    expect(bashComplete('kvctl check perf --load ')).toEqual(['s', 'm', 'l', 'xl']);
    expect(bashComplete('kvctl -w=pr')).toEqual(['protobuf']);
  });

  it('prints zsh and fish scripts that use the same protocol; refuses powershell', () => {
    for (const shell of ['zsh', 'fish']) {
      const r = kvctl('completion', shell);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('__complete');
    }
    const zsh = spawnSync('zsh', ['-n', '-c', kvctl('completion', 'zsh').stdout], { encoding: 'utf8' });
    if (!zsh.error) expect(zsh.status, zsh.stderr).toBe(0);
    const ps = kvctl('completion', 'powershell');
    expect(ps.code).toBe(4);
    expect(ps.stderr).toContain('Error: powershell completion is not available in kvctl');
  });
});
