// The `etcd3` npm client's auth API, unchanged, against kvd and against real etcd 3.4 side by
// side: every call's answer (values, names, permission lists, the error class the client makes of
// a refusal and its message) goes into a transcript per server, each asserted on its own and the
// two compared at the end. One member each, started with `--bcrypt-cost 4` (both servers take it).
import { type RunningServer, type ServerKind, serverKinds, startServer } from '@kv/testkit';
import { Etcd3, type IPermissionResult, Range, type Watcher } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const transcripts: Partial<Record<ServerKind, string[]>> = {};

/** The class etcd3 made of a call's failure and its message, or 'ok'. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return `${(err as Error).constructor.name}: ${(err as Error).message}`;
  }
}

const perms = (ps: IPermissionResult[]) => ps.map((p) => `${p.permission} [${p.range.start.toString()}, ${p.range.end.toString('hex')})`);

/** The next event a watcher delivers, or the error it emits. */
function nextEvent(w: Watcher): Promise<string> {
  return new Promise((resolve) => {
    w.once('put', (kv) => resolve(`put ${kv.key.toString()}=${kv.value.toString()}`));
    w.once('error', (err) => resolve(`error ${err.constructor.name}: ${err.message}`));
  });
}

const DENIED = 'EtcdPermissionDeniedError: 7 PERMISSION_DENIED: etcdserver: permission denied';

for (const { kind, skip } of serverKinds()) {
  describe.skipIf(skip !== undefined)(`etcd3 npm client, auth calls against ${kind}`, () => {
    let server: RunningServer;
    const clients: Etcd3[] = [];
    const t: string[] = [];
    transcripts[kind] = t;
    const client = (auth?: { username: string; password: string }) => {
      const c = new Etcd3({ hosts: server.endpoint, ...(auth ? { auth } : {}) });
      clients.push(c);
      return c;
    };
    /** Records `what → answer` and returns the answer. */
    const note = (what: string, answer: string) => {
      t.push(`${what} → ${answer}`);
      return answer;
    };

    beforeAll(async () => {
      server = await startServer(kind, { name: 'e1', extraArgs: ['--bcrypt-cost=4'], readyTimeoutMs: 60_000 });
    }, 90_000);
    afterAll(async () => {
      for (const c of clients) c.close();
      await server?.stop();
    });

    it('users and roles: create, grant and revoke roles and permissions, list, delete; the error classes', async () => {
      const admin = client();
      await admin.user('root').create('rootpw');
      await admin.role('root').create();
      await admin.user('root').addRole('root');
      const reader = await admin.role('reader').create();
      await reader.grant({ permission: 'Read', range: Range.prefix('/pub/') });
      await reader.grant({ permission: 'Readwrite', key: '/alice' });
      await reader.grant({ permission: 'Write', range: new Range('/w', '\0') });
      await admin.user('alice').create('alicepw');
      await admin.user('alice').addRole('reader');
      await admin.user('nobody').create('x');
      await admin.role('spare').create();

      // In key order; a prefix's end is the prefix + 1 (/pub0), a single key's is empty, from-key's \0.
      expect(note('reader.permissions', perms(await reader.permissions()).join('; '))).toBe(
        'Readwrite [/alice, ); Read [/pub/, 2f70756230); Write [/w, 00)',
      );
      expect(note('alice.roles', (await admin.user('alice').roles()).map((r) => r.name).join(' '))).toBe('reader');
      expect(note('getUsers', (await admin.getUsers()).map((u) => u.name).join(' '))).toBe('alice nobody root');
      expect(note('getRoles', (await admin.getRoles()).map((r) => r.name).join(' '))).toBe('reader root spare');

      // Revoke a permission and a role; delete a role and a user; change a password.
      await reader.revoke({ permission: 'Write', range: new Range('/w', '\0') });
      note('reader.permissions after revoke', perms(await reader.permissions()).join('; '));
      await admin.user('nobody').addRole('spare');
      note('nobody.roles', (await admin.user('nobody').roles()).map((r) => r.name).join(' '));
      await admin.user('nobody').removeRole('spare');
      expect(note('nobody.roles after removeRole', (await admin.user('nobody').roles()).map((r) => r.name).join(' '))).toBe('');
      await admin.user('nobody').setPassword('y');
      await admin.role('spare').delete();
      await admin.user('nobody').delete();
      expect(note('getUsers after delete', (await admin.getUsers()).map((u) => u.name).join(' '))).toBe('alice root');
      expect(note('getRoles after delete', (await admin.getRoles()).map((r) => r.name).join(' '))).toBe('reader root');

      // Refusals, each with the class etcd3 maps etcd's text to.
      expect(note('user exists', await outcome(admin.user('alice').create('again')))).toMatch(/^EtcdUserExistsError: /);
      expect(note('role exists', await outcome(admin.role('reader').create()))).toMatch(/^EtcdRoleExistsError: /);
      expect(note('role not found', await outcome(admin.role('spare').delete()))).toMatch(/^EtcdRoleNotFoundError: /);
      expect(note('user not found', await outcome(admin.user('nobody').delete()))).toMatch(/^EtcdUserNotFoundError: /);
      expect(note('role not granted', await outcome(admin.user('alice').removeRole('root')))).toMatch(/^EtcdRoleNotGrantedError: /);
      note('grant a missing role', await outcome(admin.user('alice').addRole('spare')));
      note('revoke a missing permission', await outcome(reader.revoke({ permission: 'Read', key: '/nothing' })));
    });

    it('auth enabled: a client with auth { username, password } gets, puts and watches what it may and is refused the rest', async () => {
      const admin = client();
      await admin.auth.authEnable({});
      note('no user, get', await outcome(admin.get('/pub/x').string()));
      const root = client({ username: 'root', password: 'rootpw' });
      await root.put('/pub/x').value('public');
      await root.put('/secret').value('hidden');
      expect(note('wrong password', await outcome(client({ username: 'alice', password: 'nope' }).get('/pub/x').string()))).toMatch(
        /^EtcdAuthenticationFailedError: .*etcdserver: authentication failed, invalid user ID or password$/,
      );
      expect(note('unknown user', await outcome(client({ username: 'mallory', password: 'x' }).get('/pub/x').string()))).toMatch(
        /^EtcdAuthenticationFailedError: /,
      );

      const alice = client({ username: 'alice', password: 'alicepw' });
      expect(note('alice get /pub/x', (await alice.get('/pub/x').string()) ?? 'null')).toBe('public');
      expect(note('alice getAll /pub/', JSON.stringify(await alice.getAll().prefix('/pub/').strings()))).toBe('{"/pub/x":"public"}');
      expect(note('alice get /secret', await outcome(alice.get('/secret').string()))).toBe(DENIED);
      expect(note('alice getAll everything', await outcome(alice.getAll().strings()))).toBe(DENIED);
      expect(note('alice put /alice', await outcome(alice.put('/alice').value('mine').exec()))).toBe('ok');
      expect(note('alice put /pub/y', await outcome(alice.put('/pub/y').value('no').exec()))).toBe(DENIED);
      expect(note('alice delete /secret', await outcome(alice.delete().key('/secret').exec()))).toBe(DENIED);
      expect(note('alice user list', await outcome(alice.getUsers()))).toBe(DENIED);
      // A txn whose compare reads a key alice may not read.
      expect(
        note(
          'alice txn compare /secret',
          await outcome(alice.if('/secret', 'Value', '==', 'hidden').then(alice.put('/alice').value('x')).commit()),
        ),
      ).toBe(DENIED);

      // A watch inside her range delivers; one outside it is refused (etcd: created and canceled).
      const w = await alice.watch().prefix('/pub/').create();
      const ev = nextEvent(w);
      await root.put('/pub/z').value('new');
      expect(note('alice watch /pub/', await ev)).toBe('put /pub/z=new');
      await w.cancel();
      const refused = alice.watch().key('/secret').watcher();
      const answer = await new Promise<string>((resolve) => {
        refused.once('connected', () => resolve('connected'));
        refused.once('error', (err) => resolve(`error ${err.constructor.name}: ${err.message}`));
      });
      expect(note('alice watch /secret', answer)).toBe(
        'error EtcdPermissionDeniedError: Watcher canceled: rpc error: code = PermissionDenied desc = etcdserver: permission denied',
      );
      expect(note('root get /secret', (await root.get('/secret').string()) ?? 'null')).toBe('hidden');
      expect(note('alice get /alice', (await alice.get('/alice').string()) ?? 'null')).toBe('mine');

      // A deleted user's client: its token stops working, and its re-login is refused.
      await root.user('alice').delete();
      expect(note('deleted alice get', await outcome(alice.get('/pub/x').string()))).toMatch(
        /^EtcdAuthenticationFailedError: |^EtcdInvalidAuthTokenError: /,
      );
      await root.auth.authDisable({});
      expect(note('auth disabled, no user, get', (await admin.get('/secret').string()) ?? 'null')).toBe('hidden');
    });
  });
}

describe.skipIf(serverKinds().some((k) => k.skip !== undefined))('etcd3 npm client: kvd answers as etcd', () => {
  it('the same transcript', () => {
    expect(transcripts.etcd!.length).toBeGreaterThan(30);
    expect(transcripts.kvd).toEqual(transcripts.etcd);
  });
});
