// Brute-force resistance of Authenticate on one real member: an unknown user costs a bcrypt
// comparison at the configured cost like a known one (asserted by watching bcrypt, not by
// timing), and failures beyond the member's bucket are refused with etcd's `too many requests`
// before any hashing, also for the right password, until the bucket refills.
import { etcdserverpb } from '@kv/api';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import bcrypt from 'bcrypt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decoyHash } from '../auth/password.js';
import { AuthenticateBurst, AuthenticatePerSecond } from '../auth/rate_limit.js';
import { startHarness, until, type Harness } from '../testutil/harness.js';

let h: Harness;
let auth: etcdserverpb.AuthClient;
const Cost = 4;

function rpc<Res>(method: string, req: unknown, token?: string): Promise<Res> {
  const md = new Metadata();
  if (token) md.set('token', token);
  return new Promise((resolve, reject) =>
    (auth as unknown as Record<string, (r: unknown, m: Metadata, cb: (e: ServiceError | null, r: Res) => void) => void>)[method](
      req,
      md,
      (e, r) => (e ? reject(e) : resolve(r)),
    ),
  );
}

/** Failed Authenticates so far in this file: each took a token from the member's one bucket. */
let failedLogins = 0;

async function login(name: string, password: string): Promise<string> {
  try {
    const r = await rpc<etcdserverpb.AuthenticateResponse>(
      'authenticate',
      etcdserverpb.AuthenticateRequest.fromPartial({ name, password }),
    );
    return r.token === '' ? 'no token' : 'ok';
  } catch (err) {
    if ((err as ServiceError).code === 3) failedLogins++;
    return `${(err as ServiceError).code} ${(err as ServiceError).details}`;
  }
}

beforeAll(async () => {
  h = await startHarness({ bcryptCost: Cost });
  auth = new etcdserverpb.AuthClient(h.endpoint, credentials.createInsecure());
  const R = etcdserverpb;
  await rpc('userAdd', R.AuthUserAddRequest.fromPartial({ name: 'root', password: 'rootpw' }));
  await rpc('userGrantRole', R.AuthUserGrantRoleRequest.fromPartial({ user: 'root', role: 'root' }));
  await rpc('userAdd', R.AuthUserAddRequest.fromPartial({ name: 'nopw', options: { noPassword: true } }));
  await rpc('authEnable', R.AuthEnableRequest.fromPartial({}));
}, 60_000);

afterAll(async () => {
  auth?.close();
  await h?.close();
});

describe('Authenticate against brute force', () => {
  it('an unknown or no-password user costs one bcrypt comparison at the configured cost, as a known one', async () => {
    const compare = vi.spyOn(bcrypt, 'compare');
    try {
      expect(await login('nobody', 'guess')).toBe('3 etcdserver: authentication failed, invalid user ID or password');
      expect(await login('nopw', 'guess')).toBe('3 etcdserver: authentication failed, invalid user ID or password');
      expect(await login('root', 'guess')).toBe('3 etcdserver: authentication failed, invalid user ID or password');
      expect(await login('root', 'rootpw')).toBe('ok');
      expect(compare).toHaveBeenCalledTimes(4);
      const hashes = compare.mock.calls.map((c) => String(c[1]));
      expect(hashes.slice(0, 2)).toEqual([decoyHash(Cost), decoyHash(Cost)]);
      expect(hashes.map((x) => bcrypt.getRounds(x))).toEqual([Cost, Cost, Cost, Cost]);
      expect(hashes[2]).toBe(hashes[3]); // root's own hash, wrong and right password alike
    } finally {
      compare.mockRestore();
    }
  });

  it(`beyond ${AuthenticateBurst} failures the member refuses with too many requests, before hashing, until it refills`, async () => {
    // The bucket is the member's: fail until it refuses (bounded; the refill adds a few meanwhile).
    // The failures of the test before this one came out of the same bucket.
    const spentBefore = failedLogins;
    let failures = 0;
    let answer = '';
    for (; failures < AuthenticateBurst * 4; failures++) {
      answer = await login('root', `guess-${failures}`);
      if (!answer.startsWith('3 ')) break;
    }
    expect(answer).toBe('8 etcdserver: too many requests');
    expect(spentBefore + failures).toBeGreaterThanOrEqual(AuthenticateBurst);
    const compare = vi.spyOn(bcrypt, 'compare');
    try {
      // Right password, no hashing: refused while the bucket is empty (that is what stops a guesser).
      const now = await login('root', 'rootpw');
      if (now !== 'ok') {
        expect(now).toBe('8 etcdserver: too many requests');
        expect(compare).not.toHaveBeenCalled();
      }
    } finally {
      compare.mockRestore();
    }
    // A refill of one token takes 1/perSecond seconds; then the right password works again.
    await until(
      'refilled',
      async () => ((await login('root', 'rootpw')) === 'ok' ? true : undefined),
      20_000 + 2000 / AuthenticatePerSecond,
    );
    // And successes never use the bucket up: they give their token back.
    for (let i = 0; i < 5; i++) expect(await login('root', 'rootpw')).toBe('ok');
  });
});
