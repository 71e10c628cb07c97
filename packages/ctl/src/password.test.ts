// The password prompt and kvctl's client options (keep-alive flags, --user forms), without a server.
import { PassThrough } from 'node:stream';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addGlobalFlags, Ctx, resolveGlobals } from './globals.js';
import type { CtlIO } from './io.js';
import { LineReader } from './lines.js';
import { askPassword, readPasswordInteractive, scanWord } from './password.js';

function fakeIO(input: string, echo: boolean[] = []): CtlIO & { out: () => string } {
  const chunks: string[] = [];
  const stdin = new PassThrough();
  stdin.end(input);
  return {
    stdout: { write: (c: string | Uint8Array) => chunks.push(Buffer.from(c).toString()) },
    stderr: { write: () => true },
    stdin,
    env: {},
    argv: [],
    setEcho: (on) => echo.push(on),
    out: () => chunks.join(''),
  };
}

describe('password prompt', () => {
  it('prompts on stdout, turns echo off then on, trims the line and leaves the rest of stdin', async () => {
    const echo: boolean[] = [];
    const io = fakeIO('  secret \r\nnext line\n', echo);
    expect(await askPassword(io, 'Password: ')).toBe('secret');
    expect(io.out()).toBe('Password: \n');
    expect(echo).toEqual([false, true]);
    // what followed the password is still there for a command that reads stdin afterwards
    expect(await new LineReader(io.stdin).next()).toBe('next line\n');
  });

  it('asks twice and refuses empty or different passwords with exit 128', async () => {
    const ok = fakeIO('pw\npw\n');
    expect(await readPasswordInteractive(ok, 'bob')).toBe('pw');
    expect(ok.out()).toBe('Password of bob: \nType password of bob again for confirmation: \n');
    await expect(readPasswordInteractive(fakeIO('a\nb\n'), 'bob')).rejects.toMatchObject({
      code: 128,
      message: 'given passwords are different',
    });
    await expect(readPasswordInteractive(fakeIO(''), 'bob')).rejects.toMatchObject({ code: 128, message: 'empty password' });
  });

  it('reads one word for --interactive=false (fmt.Scanf("%s"))', async () => {
    expect(await scanWord(fakeIO('  w1 w2\n'))).toBe('w1');
    expect(await scanWord(fakeIO('\n'))).toBe('');
    expect(await scanWord(fakeIO(''))).toBe('');
  });

  it('reports a terminal whose echo cannot be turned off as speakeasy does', async () => {
    const io = fakeIO('x\n');
    io.setEcho = () => {
      throw new Error('spawn /bin/stty ENOENT');
    };
    await expect(askPassword(io, 'Password: ')).rejects.toThrow(
      'failed turning off console echo for password entry:\n\tspawn /bin/stty ENOENT',
    );
  });
});

function ctxFor(args: string[], input = ''): Ctx {
  const program = new Command('kvctl').exitOverride();
  addGlobalFlags(program);
  program.parse(args, { from: 'user' });
  const io = fakeIO(input);
  return new Ctx(io, resolveGlobals(program, io));
}

describe('client options from the global flags', () => {
  it('passes --keepalive-time (at least 10 s, as grpc-go raises it) and --keepalive-timeout to the client', () => {
    expect(ctxFor([]).clientOptions()).toMatchObject({ keepaliveTimeMs: 10_000, keepaliveTimeoutMs: 6000 });
    expect(ctxFor(['--keepalive-time=30s', '--keepalive-timeout', '1m']).clientOptions()).toMatchObject({
      keepaliveTimeMs: 30_000,
      keepaliveTimeoutMs: 60_000,
    });
  });

  it('takes the password from --user name:pw, from --password, or asks for it once', async () => {
    expect(ctxFor(['--user', 'u:p:q']).clientOptions().auth).toEqual({ username: 'u', password: 'p:q' });
    expect(ctxFor(['--user', 'u:x', '--password', 'pw']).clientOptions().auth).toEqual({ username: 'u:x', password: 'pw' });
    const ctx = ctxFor(['--user', 'u'], 'typed\n');
    const a = ctx.clientOptions().auth!;
    const b = ctx.clientOptions().auth!;
    expect(a.username).toBe('u');
    const ask = a.password as () => Promise<string>;
    expect(await ask()).toBe('typed');
    expect(await (b.password as () => Promise<string>)()).toBe('typed');
  });
});
