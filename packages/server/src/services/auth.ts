// Auth service (etcd's v3rpc/auth.go + the auth parts of v3_server.go): every RPC goes through
// the log and is applied by the auth store on every member (auth/apply.ts); reads too, as etcd
// (linearizable). Passwords are hashed here, before proposing, and compared here, outside the
// raft loop (bcrypt on libuv's thread pool): the log, the backend and the logs only ever see
// hashes.
//
// Brute force: a failed Authenticate costs one bcrypt comparison at the configured cost whether
// the user exists or not (auth/password.ts), and failures are rate limited per member (a token
// bucket: auth/rate_limit.ts); beyond it the call is refused with `etcdserver: too many
// requests` (RESOURCE_EXHAUSTED) before any hashing — etcd 3.4 has no such limit.
import { etcdserverpb } from '@kv/api';
import type { ServerUnaryCall } from '@grpc/grpc-js';
import { comparePassword, hashPassword } from '../auth/password.js';
import { AuthenticateBurst, AuthenticatePerSecond, TokenBucket } from '../auth/rate_limit.js';
import type { TokenGrant } from '../auth/token_provider.js';
import { VerifyOnlyError } from '../auth/jwt.js';
import { checkName, checkPermission } from '../auth/validate.js';
import { RpcError } from '../errors.js';
import type { Member } from '../member.js';
import { unary } from './unary.js';

type Call = ServerUnaryCall<unknown, unknown>;

/** etcd's accepted bcrypt costs (x/crypto/bcrypt MinCost..MaxCost). */
export function effectiveBcryptCost(cost: number): number {
  return Number.isInteger(cost) && cost >= 4 && cost <= 31 ? cost : 10;
}

export function authService(m: Member): etcdserverpb.AuthServer {
  const cost = effectiveBcryptCost(m.config.bcryptCost);
  if (cost !== m.config.bcryptCost) m.logger.warn({ given: m.config.bcryptCost, used: cost }, 'invalid --bcrypt-cost; using the default');
  const limiter = new TokenBucket(m.clock, AuthenticateBurst, AuthenticatePerSecond);
  const who = (call: Call) => () => m.identity.authInfo(call.metadata);
  const propose = async <T>(call: Call, req: Partial<etcdserverpb.InternalRaftRequest>): Promise<T> =>
    (await m.proposeFull(req, who(call))).resp as T;

  return {
    authEnable: unary((_req: etcdserverpb.AuthEnableRequest, call) => propose(call, { authEnable: {} })),
    authDisable: unary((_req: etcdserverpb.AuthDisableRequest, call) => propose(call, { authDisable: {} })),
    authStatus: unary((_req: etcdserverpb.AuthStatusRequest, call) => propose(call, { authStatus: {} })),
    authenticate: unary(async (req: etcdserverpb.AuthenticateRequest) => {
      // etcd: linearizable, so the password is checked against the latest applied state.
      await m.consensus.readBarrier();
      for (let attempt = 0; ; attempt++) {
        if (!m.auth.enabled) throw new RpcError('AuthNotEnabled');
        const checkedAt = m.auth.revision;
        const user = m.auth.getUser(req.name);
        // Taken before the comparison, given back on success: only failures count, and a burst
        // of concurrent guesses cannot all start before the first fails.
        if (!limiter.take()) {
          m.logger.warn({ user: req.name }, 'too many failed authentications; refusing');
          throw new RpcError('TooManyRequests');
        }
        // Unknown users and no-password users cost one comparison too (against a decoy).
        const usable = user !== undefined && !user.options?.noPassword;
        const ok = await comparePassword(req.password, usable ? user.password : undefined, cost);
        if (!ok) {
          m.logger.warn({ user: req.name }, 'invalid authentication was requested');
          throw new RpcError('AuthFailed');
        }
        limiter.refund();
        // etcd applies the entry and fails there (ErrVerifyOnly); nothing would differ but the log entry.
        if (m.tokens.verifyOnly) throw new VerifyOnlyError();
        // The token prefix (simple) is drawn here; the applied entry names the user on every member.
        const resp = (
          await m.proposeFull({
            authenticate: { name: req.name, password: '', simpleToken: m.tokens.genPrefix() },
          })
        ).resp as etcdserverpb.AuthenticateResponse & { grant?: TokenGrant };
        // The password may have changed between the check and the apply: check again (etcd).
        if (m.auth.revision !== checkedAt && attempt < 3) continue;
        // A JWT is signed here, for the user at the auth revision of the apply.
        const token = resp.token !== '' ? resp.token : await m.tokens.issue(resp.grant!);
        return { header: resp.header, token };
      }
    }),
    userAdd: unary(async (req: etcdserverpb.AuthUserAddRequest, call) => {
      checkName('user', req.name);
      if (req.name.length === 0) throw new RpcError('UserEmpty');
      m.auth.checkAdmin(m.identity.authInfo(call.metadata)); // before spending a hash on a caller apply refuses
      const noPassword = req.options?.noPassword ?? false;
      const hashedPassword = noPassword ? '' : await hashPassword(req.password, cost);
      return propose(call, { authUserAdd: { name: req.name, password: '', hashedPassword, options: { noPassword } } });
    }),
    userGet: unary((req: etcdserverpb.AuthUserGetRequest, call) => propose(call, { authUserGet: req })),
    userList: unary((req: etcdserverpb.AuthUserListRequest, call) => propose(call, { authUserList: req })),
    userDelete: unary((req: etcdserverpb.AuthUserDeleteRequest, call) => propose(call, { authUserDelete: req })),
    userChangePassword: unary(async (req: etcdserverpb.AuthUserChangePasswordRequest, call) => {
      m.auth.checkAdmin(m.identity.authInfo(call.metadata));
      const hashedPassword = await hashPassword(req.password, cost);
      return propose(call, { authUserChangePassword: { name: req.name, password: '', hashedPassword } });
    }),
    userGrantRole: unary((req: etcdserverpb.AuthUserGrantRoleRequest, call) => propose(call, { authUserGrantRole: req })),
    userRevokeRole: unary((req: etcdserverpb.AuthUserRevokeRoleRequest, call) => propose(call, { authUserRevokeRole: req })),
    roleAdd: unary(async (req: etcdserverpb.AuthRoleAddRequest, call) => {
      checkName('role', req.name);
      return propose(call, { authRoleAdd: req });
    }),
    roleGet: unary((req: etcdserverpb.AuthRoleGetRequest, call) => propose(call, { authRoleGet: req })),
    roleList: unary((req: etcdserverpb.AuthRoleListRequest, call) => propose(call, { authRoleList: req })),
    roleDelete: unary((req: etcdserverpb.AuthRoleDeleteRequest, call) => propose(call, { authRoleDelete: req })),
    roleGrantPermission: unary(async (req: etcdserverpb.AuthRoleGrantPermissionRequest, call) => {
      checkPermission(req.perm);
      return propose(call, { authRoleGrantPermission: req });
    }),
    roleRevokePermission: unary((req: etcdserverpb.AuthRoleRevokePermissionRequest, call) =>
      propose(call, { authRoleRevokePermission: req }),
    ),
  };
}
