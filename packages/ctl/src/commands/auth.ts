// auth enable|disable|status, user add|get|list|delete|passwd|grant-role|revoke-role, role
// add|get|list|delete|grant-permission|revoke-permission: etcdctl 3.4's auth_command.go,
// user_command.go and role_command.go (auth status is etcdctl 3.5's; etcd 3.4 servers answer it
// Unimplemented). Texts, argument checks and exit codes as etcdctl's.
import { Command } from 'commander';
import { prefixEnd, strToPermissionType } from '@kv/client';
import { CtlExit, ExitCode } from '../exit.js';
import { errText, exitFor, orExit } from '../errtext.js';
import type { Ctx } from '../globals.js';
import { readPasswordInteractive, scanWord } from '../password.js';

export type Body = (ctx: Ctx, args: string[], opts: Record<string, unknown>, cmd: Command) => Promise<void> | void;
export type Act = (cmd: Command, body: Body) => Command;

const badArgs = (msg: string) => new CtlExit(ExitCode.BadArgs, msg);
/** etcd's ErrRootRoleNotExist, after which `auth enable` creates the root role. */
const ROOT_ROLE_NOT_EXIST = 'etcdserver: root user does not have root role';

// ---- auth ----

/** etcdctl's authEnableCommandFunc: a missing root role is added and granted to root, then enable again. */
export async function authEnable(ctx: Ctx, args: string[]): Promise<void> {
  if (args.length !== 0) throw badArgs('auth enable command does not accept any arguments');
  const auth = ctx.client().auth;
  const opts = { timeoutMs: ctx.commandTimeoutMs };
  // Bounded: each round either enables, fails, or creates the missing root role (once).
  for (let round = 0; ; round++) {
    try {
      await auth.authEnable(opts);
      break;
    } catch (e) {
      if (errText(e) !== ROOT_ROLE_NOT_EXIST || round > 0) throw exitFor(e);
    }
    await orExit(auth.roleAdd('root', opts));
    await orExit(auth.userGrantRole('root', 'root', opts));
  }
  ctx.out.println('Authentication Enabled');
}

export async function authDisable(ctx: Ctx, args: string[]): Promise<void> {
  if (args.length !== 0) throw badArgs('auth disable command does not accept any arguments');
  await orExit(ctx.client().auth.authDisable({ timeoutMs: ctx.commandTimeoutMs }));
  ctx.out.println('Authentication Disabled');
}

/** etcdctl 3.5's `auth status`. */
export async function authStatus(ctx: Ctx, args: string[]): Promise<void> {
  if (args.length !== 0) throw badArgs('auth status command does not accept any arguments');
  const r = await orExit(ctx.client().auth.authStatus({ timeoutMs: ctx.commandTimeoutMs }));
  ctx.display.authStatus(r);
}

// ---- user ----

export interface UserAddFlags {
  interactive: boolean;
  newUserPassword: string;
  noPassword: boolean;
}

/** etcdctl calls the Auth API with context.TODO() (no deadline) in user and role commands. */
export async function userAdd(ctx: Ctx, args: string[], f: UserAddFlags): Promise<void> {
  if (args.length !== 1) throw badArgs('user add command requires user name as its argument');
  let user = args[0]!;
  let password = '';
  if (!f.noPassword) {
    if (f.newUserPassword !== '') {
      password = f.newUserPassword;
    } else {
      const i = user.indexOf(':');
      if (i < 0) {
        password = f.interactive ? await readPasswordInteractive(ctx.io, user) : await scanWord(ctx.io);
      } else {
        password = user.slice(i + 1);
        user = user.slice(0, i);
        if (user.length === 0) throw badArgs('empty user name is not allowed');
      }
    }
  }
  const r = await orExit(ctx.client().auth.userAdd(user, password, { noPassword: f.noPassword }));
  ctx.display.userAdd(user, r);
}

export async function userDelete(ctx: Ctx, args: string[]): Promise<void> {
  if (args.length !== 1) throw badArgs('user delete command requires user name as its argument');
  const r = await orExit(ctx.client().auth.userDelete(args[0]!));
  ctx.display.userDelete(args[0]!, r);
}

export async function userGet(ctx: Ctx, args: string[], detail: boolean): Promise<void> {
  if (args.length !== 1) throw badArgs('user get command requires user name as its argument');
  const name = args[0]!;
  const auth = ctx.client().auth;
  const r = await orExit(auth.userGet(name));
  if (!detail) {
    ctx.display.userGet(name, r);
    return;
  }
  ctx.out.println(`User: ${name}`);
  for (const role of r.roles) {
    ctx.out.println('');
    const rr = await orExit(auth.roleGet(role));
    ctx.display.roleGet(role, rr);
  }
}

export async function userList(ctx: Ctx, args: string[]): Promise<void> {
  if (args.length !== 0) throw badArgs('user list command requires no arguments');
  ctx.display.userList(await orExit(ctx.client().auth.userList()));
}

export async function userPasswd(ctx: Ctx, args: string[], interactive: boolean): Promise<void> {
  if (args.length !== 1) throw badArgs('user passwd command requires user name as its argument');
  const password = interactive ? await readPasswordInteractive(ctx.io, args[0]!) : await scanWord(ctx.io);
  ctx.display.userChangePassword(await orExit(ctx.client().auth.userChangePassword(args[0]!, password)));
}

export async function userGrantRole(ctx: Ctx, args: string[]): Promise<void> {
  if (args.length !== 2) throw badArgs('user grant command requires user name and role name as its argument');
  const r = await orExit(ctx.client().auth.userGrantRole(args[0]!, args[1]!));
  ctx.display.userGrantRole(args[0]!, args[1]!, r);
}

export async function userRevokeRole(ctx: Ctx, args: string[]): Promise<void> {
  if (args.length !== 2) throw badArgs('user revoke-role requires user name and role name as its argument');
  const r = await orExit(ctx.client().auth.userRevokeRole(args[0]!, args[1]!));
  ctx.display.userRevokeRole(args[0]!, args[1]!, r);
}

// ---- role ----

export interface PermFlags {
  prefix: boolean;
  fromKey: boolean;
}

export async function roleAdd(ctx: Ctx, args: string[]): Promise<void> {
  if (args.length !== 1) throw badArgs('role add command requires role name as its argument');
  ctx.display.roleAdd(args[0]!, await orExit(ctx.client().auth.roleAdd(args[0]!)));
}

export async function roleDelete(ctx: Ctx, args: string[]): Promise<void> {
  if (args.length !== 1) throw badArgs('role delete command requires role name as its argument');
  ctx.display.roleDelete(args[0]!, await orExit(ctx.client().auth.roleDelete(args[0]!)));
}

export async function roleGet(ctx: Ctx, args: string[]): Promise<void> {
  if (args.length !== 1) throw badArgs('role get command requires role name as its argument');
  ctx.display.roleGet(args[0]!, await orExit(ctx.client().auth.roleGet(args[0]!)));
}

export async function roleList(ctx: Ctx, args: string[]): Promise<void> {
  if (args.length !== 0) throw badArgs('role list command requires no arguments');
  ctx.display.roleList(await orExit(ctx.client().auth.roleList()));
}

export async function roleGrantPermission(ctx: Ctx, args: string[], f: PermFlags): Promise<void> {
  if (args.length < 3) throw badArgs('role grant command requires role name, permission type, and key [endkey] as its argument');
  let perm;
  try {
    perm = strToPermissionType(args[1]!);
  } catch (e) {
    throw badArgs((e as Error).message);
  }
  const { key, rangeEnd } = permRange(args.slice(2), f);
  const r = await orExit(ctx.client().auth.roleGrantPermission(args[0]!, key, rangeEnd, perm));
  ctx.display.roleGrantPermission(args[0]!, r);
}

export async function roleRevokePermission(ctx: Ctx, args: string[], f: PermFlags): Promise<void> {
  if (args.length < 2) throw badArgs('role revoke-permission command requires role name and key [endkey] as its argument');
  const { key, rangeEnd } = permRange(args.slice(1), f);
  const r = await orExit(ctx.client().auth.roleRevokePermission(args[0]!, key, rangeEnd));
  // etcdctl prints the key as given (not the "\0" an empty key is sent as).
  ctx.display.roleRevokePermission(args[0]!, Buffer.from(args[1]!), rangeEnd, r);
}

/**
 * etcdctl's permRange: the key and range end a permission covers. An empty key is sent as
 * "\0" (the server's interval type has no empty key), and with --prefix or --from-key it
 * covers the whole key space (range end "\0").
 */
export function permRange(args: string[], f: PermFlags): { key: Buffer; rangeEnd: Buffer } {
  const key = args[0]!;
  if (key.length === 0) {
    if (f.prefix && f.fromKey) throw badArgs('--from-key and --prefix flags are mutually exclusive');
    return { key: Buffer.from([0]), rangeEnd: f.prefix || f.fromKey ? Buffer.from([0]) : Buffer.alloc(0) };
  }
  return { key: Buffer.from(key), rangeEnd: rangeEndFromPermFlags(args, f) };
}

function rangeEndFromPermFlags(args: string[], f: PermFlags): Buffer {
  if (args.length === 1) {
    if (f.prefix) {
      if (f.fromKey) throw badArgs('--from-key and --prefix flags are mutually exclusive');
      return prefixEnd(Buffer.from(args[0]!));
    }
    if (f.fromKey) return Buffer.from([0]);
    return Buffer.alloc(0);
  }
  if (f.prefix) throw badArgs('unexpected endkey argument with --prefix flag');
  if (f.fromKey) throw badArgs('unexpected endkey argument with --from-key flag');
  return Buffer.from(args[1]!);
}

// ---- registration ----

/** Adds `auth`, `user` and `role` with their subcommands to the program. */
export function registerAuthCommands(program: Command, act: Act): void {
  const auth = program.command('auth').description('Enable or disable authentication');
  act(auth.command('enable').description('Enables authentication'), (ctx, args) => authEnable(ctx, args));
  act(auth.command('disable').description('Disables authentication'), (ctx, args) => authDisable(ctx, args));
  act(auth.command('status').description('Returns authentication status'), (ctx, args) => authStatus(ctx, args));

  const user = program.command('user').description('User related commands');
  act(
    user
      .command('add')
      .description('Adds a new user')
      .option('--interactive', 'Read password from stdin instead of interactive terminal')
      .option('--no-interactive', 'Read the password from stdin (one word)')
      .option('--new-user-password <value>', 'Supply password from the command line flag', '')
      .option('--no-password', 'Create a user without password (CN based auth only)'),
    (ctx, args, o) =>
      userAdd(ctx, args, {
        interactive: o.interactive !== false,
        newUserPassword: o.newUserPassword as string,
        // commander's --no-password sets `password: false`
        noPassword: o.password === false,
      }),
  );
  act(user.command('delete').description('Deletes a user'), (ctx, args) => userDelete(ctx, args));
  act(
    user
      .command('get')
      .description('Gets detailed information of a user')
      .option('--detail', 'Show permissions of roles granted to the user'),
    (ctx, args, o) => userGet(ctx, args, Boolean(o.detail)),
  );
  act(user.command('list').description('Lists all users'), (ctx, args) => userList(ctx, args));
  act(
    user
      .command('passwd')
      .description('Changes password of user')
      .option('--interactive', 'If true, read password from stdin instead of interactive terminal')
      .option('--no-interactive', 'Read the password from stdin (one word)'),
    (ctx, args, o) => userPasswd(ctx, args, o.interactive !== false),
  );
  act(user.command('grant-role').description('Grants a role to a user'), (ctx, args) => userGrantRole(ctx, args));
  act(user.command('revoke-role').description('Revokes a role from a user'), (ctx, args) => userRevokeRole(ctx, args));

  const role = program.command('role').description('Role related commands');
  act(role.command('add').description('Adds a new role'), (ctx, args) => roleAdd(ctx, args));
  act(role.command('delete').description('Deletes a role'), (ctx, args) => roleDelete(ctx, args));
  act(role.command('get').description('Gets detailed information of a role'), (ctx, args) => roleGet(ctx, args));
  act(role.command('list').description('Lists all roles'), (ctx, args) => roleList(ctx, args));
  const permFlags = (cmd: Command, verb: string) =>
    cmd
      .option('--prefix', `${verb} a prefix permission`)
      .option('--from-key', `${verb} a permission of keys that are greater than or equal to the given key using byte compare`);
  act(permFlags(role.command('grant-permission').description('Grants a key to a role'), 'grant'), (ctx, args, o) =>
    roleGrantPermission(ctx, args, { prefix: Boolean(o.prefix), fromKey: Boolean(o.fromKey) }),
  );
  act(permFlags(role.command('revoke-permission').description('Revokes a key from a role'), 'revoke'), (ctx, args, o) =>
    roleRevokePermission(ctx, args, { prefix: Boolean(o.prefix), fromKey: Boolean(o.fromKey) }),
  );
}
