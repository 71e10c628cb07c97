// Password input as etcdctl does it (github.com/bgentry/speakeasy): the prompt on stdout, the
// terminal's echo turned off by running `/bin/stty -echo` on our own stdin/stdout/stderr, one
// line read from stdin, echo back on (`stty echo`), a newline on stdout. When stdin is not a
// terminal stty complains on stderr (twice) and the line is read all the same — the same bytes
// etcdctl writes, because it is the same stty. No library: speakeasy's behaviour *is* "run stty",
// and a muted readline would print differently on a pipe.
// `user add --interactive=false` and `user passwd --interactive=false` read a word instead
// (Go's fmt.Scanf("%s")).
import type { Readable } from 'node:stream';
import { CtlExit, ExitCode } from './exit.js';
import { Out, type CtlIO } from './io.js';

/**
 * One line of `stream` without its '\n' (null only when the stream ended with nothing read).
 * Whatever was read past the newline is pushed back, so a later reader (txn, put) still sees it.
 */
export function readLineRaw(stream: Readable): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = false;
    const done = (v: Buffer | null, rest?: Buffer) => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
      if (rest && rest.length > 0) stream.unshift(rest);
      resolve(v);
    };
    const onReadable = () => {
      for (;;) {
        const chunk: unknown = stream.read();
        if (chunk === null) return;
        const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        got = true;
        const i = b.indexOf(0x0a);
        if (i >= 0) {
          parts.push(b.subarray(0, i));
          done(Buffer.concat(parts), b.subarray(i + 1));
          return;
        }
        parts.push(b);
      }
    };
    const onEnd = () => done(got ? Buffer.concat(parts) : null);
    const onError = (e: unknown) => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      reject(e);
    };
    if (stream.readableEnded) return resolve(null);
    stream.on('readable', onReadable);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}

/** Go's strings.TrimSpace for ASCII white space (what speakeasy applies to the line). */
function trimSpace(s: string): string {
  return s.replace(/^[\t\n\v\f\r ]+|[\t\n\v\f\r ]+$/g, '');
}

/**
 * speakeasy.Ask(prompt): the password typed (echo off on a terminal). Fails with `failed
 * turning off console echo ...` when stty cannot be run at all, as speakeasy does.
 */
export async function askPassword(io: CtlIO, prompt: string): Promise<string> {
  const out = new Out(io.stdout);
  out.print(prompt);
  try {
    io.setEcho?.(false);
  } catch (e) {
    out.println('');
    throw new Error(`failed turning off console echo for password entry:\n\t${(e as Error).message}`);
  }
  let line: Buffer | null;
  try {
    line = await readLineRaw(io.stdin);
  } catch (e) {
    throw new Error(`failed during password entry: ${(e as Error).message}`);
  } finally {
    try {
      io.setEcho?.(true);
    } catch {
      // speakeasy ignores a failure to turn echo back on
    }
    out.println('');
  }
  return trimSpace((line ?? Buffer.alloc(0)).toString('utf8').replace(/\r$/, ''));
}

/** etcdctl's readPasswordInteractive: asked twice, refused when empty or different (exit 128). */
export async function readPasswordInteractive(io: CtlIO, name: string): Promise<string> {
  const ask = async (prompt: string) => {
    try {
      return await askPassword(io, prompt);
    } catch (e) {
      throw new CtlExit(ExitCode.BadArgs, `failed to ask password: ${(e as Error).message}`);
    }
  };
  const p1 = await ask(`Password of ${name}: `);
  if (p1.length === 0) throw new CtlExit(ExitCode.BadArgs, 'empty password');
  const p2 = await ask(`Type password of ${name} again for confirmation: `);
  if (p1 !== p2) throw new CtlExit(ExitCode.BadArgs, 'given passwords are different');
  return p1;
}

/**
 * fmt.Scanf("%s", &password) on stdin: leading blanks skipped, then one word; a newline or the
 * end of input first gives "" (Scanf's error is ignored by etcdctl).
 */
export async function scanWord(io: CtlIO): Promise<string> {
  const line = await readLineRaw(io.stdin);
  if (line === null) return '';
  const m = /^[ \t\r]*([^ \t\r\n]*)/.exec(line.toString('utf8'));
  return m?.[1] ?? '';
}
