// kvctl versus etcdctl 3.4 for auth, user and role commands: the same script runs once with
// etcdctl and once with kvctl, each against a fresh server with the same name and ports, and every
// step's stdout, exit code and "Error:" lines must be identical — for the password prompts (stdin
// not a terminal) all of stderr, stty's complaints included. Users, roles, key/range/prefix/
// from-key permissions in every output format, the errors, then auth enable, commands as users
// (--user name:pw, --user name --password, --user name with the password prompted), auth disable.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, serverKinds, startServer, type RunningServer, type ServerKind } from '@kv/testkit';
import { runTool, type Tool } from './testutil/run_tool.js';

interface Step {
  name: string;
  args: string[];
  stdin?: string;
  /** Compare all of stderr (password prompts: stty's messages), not only the "Error:" lines. */
  fullStderr?: boolean;
  /** Compare stdout as base64 (-w protobuf). */
  binary?: boolean;
}

const root = ['--user', 'root:rootpw'];

const steps: Step[] = [
  { name: 'user list empty', args: ['user', 'list'] },
  { name: 'role list empty json', args: ['role', 'list', '-w', 'json'] },
  { name: 'auth enable without root', args: ['auth', 'enable'] },
  { name: 'auth enable with args', args: ['auth', 'enable', 'x'] },
  { name: 'auth disable with args', args: ['auth', 'disable', 'x'] },
  { name: 'user add root', args: ['user', 'add', 'root:rootpw'] },
  { name: 'user add exists', args: ['user', 'add', 'root:other'] },
  { name: 'user add empty name', args: ['user', 'add', ':pw'] },
  { name: 'user add no args', args: ['user', 'add'] },
  { name: 'user add prompted (stdin)', args: ['user', 'add', 'alice'], stdin: 'alicepw\nalicepw\n', fullStderr: true },
  { name: 'user add prompted mismatch', args: ['user', 'add', 'eve'], stdin: 'one\ntwo\n', fullStderr: true },
  { name: 'user add prompted empty', args: ['user', 'add', 'eve'], stdin: '\n', fullStderr: true },
  { name: 'user add not interactive', args: ['user', 'add', 'bob', '--interactive=false'], stdin: '  bobpw rest\n' },
  { name: 'user add flag password json', args: ['user', 'add', 'carol', '--new-user-password', 'c1', '-w', 'json'] },
  { name: 'user add no password fields', args: ['user', 'add', 'dave', '--no-password', '-w', 'fields'] },
  { name: 'user add protobuf', args: ['user', 'add', 'frank:f', '-w', 'protobuf'], binary: true },
  { name: 'user add table', args: ['user', 'add', 'gina:g', '-w', 'table'] },
  { name: 'role add', args: ['role', 'add', 'r1'] },
  { name: 'role add exists', args: ['role', 'add', 'r1'] },
  { name: 'role add json', args: ['role', 'add', 'r2', '-w', 'json'] },
  { name: 'role add protobuf', args: ['role', 'add', 'r3', '-w', 'protobuf'], binary: true },
  { name: 'role add no args', args: ['role', 'add'] },
  { name: 'grant key', args: ['role', 'grant-permission', 'r1', 'read', 'k1'] },
  { name: 'grant prefix', args: ['role', 'grant-permission', 'r1', 'readwrite', 'p/', '--prefix'] },
  { name: 'grant from-key fields', args: ['role', 'grant-permission', '--from-key', 'r1', 'write', 'z', '-w', 'fields'] },
  { name: 'grant range json', args: ['role', 'grant-permission', 'r1', 'READ', 'a', 'c', '-w', 'json'] },
  { name: 'grant empty key prefix', args: ['role', 'grant-permission', 'r2', 'read', '', '--prefix'] },
  { name: 'grant empty key', args: ['role', 'grant-permission', 'r2', 'write', ''] },
  { name: 'grant bad type', args: ['role', 'grant-permission', 'r1', 'rw', 'k'] },
  { name: 'grant prefix with end', args: ['role', 'grant-permission', 'r1', 'read', 'a', 'b', '--prefix'] },
  { name: 'grant from-key with end', args: ['role', 'grant-permission', 'r1', 'read', 'a', 'b', '--from-key'] },
  { name: 'grant prefix and from-key', args: ['role', 'grant-permission', 'r1', 'read', 'a', '--prefix', '--from-key'] },
  { name: 'grant too few args', args: ['role', 'grant-permission', 'r1', 'read'] },
  { name: 'grant missing role', args: ['role', 'grant-permission', 'nope', 'read', 'k'] },
  { name: 'role get', args: ['role', 'get', 'r1'] },
  { name: 'role get whole key space', args: ['role', 'get', 'r2'] },
  { name: 'role get json', args: ['role', 'get', 'r1', '-w', 'json'] },
  { name: 'role get fields', args: ['role', 'get', 'r1', '-w', 'fields'] },
  { name: 'role get protobuf', args: ['role', 'get', 'r1', '-w', 'protobuf'], binary: true },
  { name: 'role get table', args: ['role', 'get', 'r1', '-w', 'table'] },
  { name: 'role get missing', args: ['role', 'get', 'nope'] },
  { name: 'role get no args', args: ['role', 'get'] },
  { name: 'role list', args: ['role', 'list'] },
  { name: 'role list fields', args: ['role', 'list', '-w', 'fields'] },
  { name: 'role list with args', args: ['role', 'list', 'x'] },
  { name: 'grant role', args: ['user', 'grant-role', 'alice', 'r1'] },
  { name: 'grant role json', args: ['user', 'grant-role', 'alice', 'r2', '-w', 'json'] },
  { name: 'grant missing role to user', args: ['user', 'grant-role', 'alice', 'nope'] },
  { name: 'grant role to missing user', args: ['user', 'grant-role', 'nobody', 'r1'] },
  { name: 'grant role one arg', args: ['user', 'grant-role', 'alice'] },
  { name: 'user get', args: ['user', 'get', 'alice'] },
  { name: 'user get detail', args: ['user', 'get', 'alice', '--detail'] },
  { name: 'user get json', args: ['user', 'get', 'alice', '-w', 'json'] },
  { name: 'user get fields', args: ['user', 'get', 'alice', '-w', 'fields'] },
  { name: 'user get protobuf', args: ['user', 'get', 'alice', '-w', 'protobuf'], binary: true },
  { name: 'user get missing', args: ['user', 'get', 'nobody'] },
  { name: 'user list', args: ['user', 'list'] },
  { name: 'user list json', args: ['user', 'list', '-w', 'json'] },
  { name: 'revoke role', args: ['user', 'revoke-role', 'alice', 'r2'] },
  { name: 'revoke role not granted', args: ['user', 'revoke-role', 'alice', 'r2'] },
  { name: 'revoke role fields', args: ['user', 'grant-role', 'bob', 'r2', '-w', 'fields'] },
  { name: 'revoke role no args', args: ['user', 'revoke-role'] },
  { name: 'revoke range', args: ['role', 'revoke-permission', 'r1', 'a', 'c'] },
  { name: 'revoke from-key', args: ['role', 'revoke-permission', 'r1', 'z', '--from-key'] },
  { name: 'revoke empty key prefix json', args: ['role', 'revoke-permission', 'r2', '', '--prefix', '-w', 'json'] },
  { name: 'revoke missing permission', args: ['role', 'revoke-permission', 'r1', 'nothere'] },
  { name: 'revoke too few args', args: ['role', 'revoke-permission', 'r1'] },
  { name: 'role delete', args: ['role', 'delete', 'r3'] },
  { name: 'role delete missing', args: ['role', 'delete', 'r3'] },
  { name: 'user delete fields', args: ['user', 'delete', 'gina', '-w', 'fields'] },
  { name: 'user delete missing', args: ['user', 'delete', 'gina'] },
  { name: 'put before auth', args: ['put', 'p/x', 'v0'] },
  // root has no root role yet: etcdctl (and kvctl) add it and enable again
  { name: 'auth enable', args: ['auth', 'enable'] },
  { name: 'role get root', args: [...root, 'role', 'get', 'root'] },
  { name: 'get without user', args: ['get', 'p/x'] },
  { name: 'user list without user', args: ['user', 'list'] },
  { name: 'get as alice', args: ['--user', 'alice:alicepw', 'get', 'p/x'] },
  { name: 'put as alice in prefix', args: ['--user', 'alice:alicepw', 'put', 'p/y', 'v1'] },
  { name: 'put as alice outside', args: ['--user', 'alice:alicepw', 'put', 'q', 'v'] },
  { name: 'get k1 as alice', args: ['--user', 'alice:alicepw', 'get', 'k1'] },
  { name: 'user list as alice', args: ['--user', 'alice:alicepw', 'user', 'list'] },
  { name: 'wrong password', args: ['--user', 'alice:wrong', 'get', 'p/x'] },
  { name: 'unknown user', args: ['--user', 'nobody:x', 'get', 'p/x'] },
  { name: 'password flag', args: ['--user', 'root', '--password', 'rootpw', 'put', 'q', 'v2'] },
  { name: 'password prompted (stdin)', args: ['--user', 'root', 'get', 'q'], stdin: 'rootpw\n', fullStderr: true },
  { name: 'password prompted wrong', args: ['--user', 'root', 'get', 'q'], stdin: 'nope\n', fullStderr: true },
  { name: 'passwd not interactive', args: [...root, 'user', 'passwd', 'bob', '--interactive=false'], stdin: 'newbob\n' },
  { name: 'passwd prompted json', args: [...root, 'user', 'passwd', 'bob', '-w', 'json'], stdin: 'bob2\nbob2\n', fullStderr: true },
  { name: 'new password works', args: ['--user', 'bob:bob2', 'get', 'p/x'] },
  { name: 'old password refused', args: ['--user', 'bob:newbob', 'get', 'p/x'] },
  { name: 'passwd no args', args: [...root, 'user', 'passwd'] },
  { name: 'delete root with auth on', args: [...root, 'user', 'delete', 'root'] },
  { name: 'revoke root role with auth on', args: [...root, 'user', 'revoke-role', 'root', 'root'] },
  { name: 'auth enable again', args: [...root, 'auth', 'enable'] },
  { name: 'auth disable as alice', args: ['--user', 'alice:alicepw', 'auth', 'disable'] },
  { name: 'auth disable', args: [...root, 'auth', 'disable'] },
  { name: 'get after disable', args: ['get', 'p/', '--prefix'] },
  { name: 'user with auth off', args: ['--user', 'alice:alicepw', 'get', 'q'] },
  { name: 'auth disable when off', args: ['auth', 'disable'] },
];

interface Outcome {
  stdout: string;
  code: number | null;
  error: string[];
  stderr: string;
}

async function transcript(tool: Tool, kind: ServerKind, ports: { clientPort: number; peerPort: number }): Promise<Outcome[]> {
  const server: RunningServer = await startServer(kind, ports);
  const out: Outcome[] = [];
  try {
    for (const s of steps) {
      const r = await runTool(tool, [`--endpoints=${server.endpoint}`, ...s.args], { stdin: s.stdin });
      // etcdctl's client logs retries as JSON lines on stderr; they are not compared.
      const stderr = r.stderr
        .split('\n')
        .filter((l) => !l.startsWith('{"level"'))
        .join('\n');
      out.push({
        stdout: s.binary ? r.stdout.toString('base64') : r.stdout.toString('latin1'),
        code: r.code,
        error: stderr.split('\n').filter((l) => l.startsWith('Error:')),
        stderr,
      });
    }
  } finally {
    await server.stop();
  }
  return out;
}

for (const { kind, skip } of serverKinds()) {
  if (skip) console.warn(`kvctl auth compat tests: skipping ${kind}: ${skip}`);
  describe.skipIf(skip !== undefined)(`kvctl auth commands match etcdctl against ${kind}`, () => {
    let expected: Outcome[] = [];
    let actual: Outcome[] = [];

    beforeAll(async () => {
      const ports = { clientPort: await freePort(), peerPort: await freePort() };
      expected = await transcript('etcdctl', kind, ports);
      actual = await transcript('kvctl', kind, ports);
    }, 900_000);

    afterAll(() => undefined);

    it.each(steps.map((s, i) => [s.name, i] as const))('%s', (_name, i) => {
      const s = steps[i]!;
      const e = expected[i]!;
      const a = actual[i]!;
      const pick = (o: Outcome) => ({ stdout: o.stdout, code: o.code, error: o.error, ...(s.fullStderr ? { stderr: o.stderr } : {}) });
      expect(pick(a), `kvctl stderr:\n${a.stderr}\netcdctl stderr:\n${e.stderr}`).toEqual(pick(e));
    });
  });
}
