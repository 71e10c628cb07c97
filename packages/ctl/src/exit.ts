// etcdctl's exit codes (ctlv3/command/error.go) and the error that carries one to the top.

export const ExitCode = {
  Success: 0,
  Error: 1,
  BadConnection: 2,
  /** Malformed txn or watch input. */
  InvalidInput: 3,
  /** A valid flag with an unsupported value. */
  BadFeature: 4,
  Interrupted: 5,
  IO: 6,
  BadArgs: 128,
} as const;

/** Thrown by commands; the runner prints "Error: <message>" to stderr and exits with `code`. */
export class CtlExit extends Error {
  constructor(
    readonly code: number,
    message: string,
    /** Print nothing (the command already reported). */
    readonly silent = false,
  ) {
    super(message);
    this.name = 'CtlExit';
  }
}

export function exitWith(code: number, message: string): never {
  throw new CtlExit(code, message);
}

/** A command-line parse error: cobra reports it, then etcdctl reports it again. */
export class FlagError extends CtlExit {
  constructor(message: string) {
    super(ExitCode.Error, message);
    this.name = 'FlagError';
  }
}
