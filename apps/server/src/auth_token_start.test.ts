// A bad --auth-token stops the server before it serves, for kvd as for real etcd 3.4: both exit
// non-zero and say why (kvd names the problem; etcd mostly says `auth: invalid auth options`).
// Loopback only, fresh ports, temp dirs; every process runs to completion under a deadline.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPorts } from '@kv/server';
import { runProcess, serverBinary, unavailableReason } from '@kv/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kv-auth-token-start-'));
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  await writeFile(join(dir, 'ec.key'), ec.privateKey.export({ type: 'sec1', format: 'pem' }));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** [--auth-token value, what kvd says, what etcd says] */
const cases: [string, RegExp, RegExp][] = [
  ['jwt,sign-method=RS256', /auth: missing key data/, /auth: missing key data/],
  ['jwt,priv-key=<DIR>/nope.key,sign-method=RS256', /cannot read priv-key .*nope.key: ENOENT/, /auth: invalid auth options/],
  ['jwt,priv-key=<DIR>/ec.key,sign-method=XX256', /sign-method "XX256" is unknown/, /auth: invalid auth options/],
  ['jwt,priv-key=<DIR>/ec.key,sign-method=RS256', /priv-key is a ec key; RS256 needs an RSA key/, /x509: failed to parse private key/],
  ['bogus', /unknown token type "bogus"/, /auth: invalid auth options/],
];

for (const kind of ['etcd', 'kvd'] as const) {
  describe.skipIf(unavailableReason(kind) !== undefined)(`${kind} with a bad --auth-token`, () => {
    it.each(cases)(
      '%s: refuses to start',
      async (option, kvdSays, etcdSays) => {
        const [client, peer] = await freeLoopbackPorts(2);
        const data = await mkdtemp(join(dir, `${kind}-`));
        const r = await runProcess(
          serverBinary(kind),
          [
            `--data-dir=${data}`,
            `--listen-client-urls=http://127.0.0.1:${client}`,
            `--advertise-client-urls=http://127.0.0.1:${client}`,
            `--listen-peer-urls=http://127.0.0.1:${peer}`,
            `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
            `--initial-cluster=default=http://127.0.0.1:${peer}`,
            `--auth-token=${option.split('<DIR>').join(dir)}`,
          ],
          { timeoutMs: 60_000 },
        );
        expect(r.timedOut).toBe(false);
        expect(r.code).not.toBe(0);
        expect(r.stdout + r.stderr).toMatch(kind === 'kvd' ? kvdSays : etcdSays);
      },
      90_000,
    );
  });
}
