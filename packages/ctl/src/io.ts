// Where a command reads and writes; the binary uses the process's streams, tests may pass others.
import type { Readable } from 'node:stream';

export interface Sink {
  write(chunk: string | Uint8Array): unknown;
}

export interface CtlIO {
  stdout: Sink;
  stderr: Sink;
  stdin: Readable;
  env: Record<string, string | undefined>;
  /** Raw process arguments after the program name (watch looks for "--" in them). */
  argv: string[];
  /**
   * Turn the terminal's echo off/on for a password prompt (the binary runs `/bin/stty [-]echo`
   * on its own stdio, as etcdctl does); absent in tests, where nothing is toggled. Throws when
   * stty cannot be run.
   */
  setEcho?: (on: boolean) => void;
}

/** Writes text lines the way Go's fmt.Println does. */
export class Out {
  constructor(readonly sink: Sink) {}
  println(...parts: (string | number | bigint | boolean)[]): void {
    this.sink.write(parts.map(String).join(' ') + '\n');
  }
  print(s: string | Uint8Array): void {
    this.sink.write(s);
  }
}
