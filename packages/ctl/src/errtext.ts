// How etcdctl words a failed call: etcd's own error texts as they are, gRPC failures the way
// Go's grpc status errors print, deadlines as Go's context error.
import { goStatusText } from '@kv/api';
import { EtcdError, isLoginError } from '@kv/client';
import { CtlExit, ExitCode } from './exit.js';

const DEADLINE_EXCEEDED = 4;
const CANCELLED = 1;

export function errText(e: unknown): string {
  if (e instanceof EtcdError) {
    if (e.etcdName !== undefined) return e.details;
    if (e.code === DEADLINE_EXCEEDED) return 'context deadline exceeded';
    if (e.code === CANCELLED) return 'context canceled';
    return goStatusText(e.code, e.details);
  }
  if (e instanceof Error) return e.message;
  return String(e);
}

/**
 * Awaits a call; a failure ends the command as etcdctl does: its error text, exit code 1 — or 2
 * when logging in failed (etcdctl logs in while making its client, and a client it cannot make
 * is a bad connection).
 */
export async function orExit<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (e) {
    throw exitFor(e);
  }
}

/** The CtlExit orExit ends the command with for a failed call. */
export function exitFor(e: unknown): CtlExit {
  if (e instanceof CtlExit) return e;
  return new CtlExit(isLoginError(e) ? ExitCode.BadConnection : ExitCode.Error, errText(e));
}
