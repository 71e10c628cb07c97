// One member process: started with etcd's flags, stopped by PID (SIGTERM, then SIGKILL after a
// deadline), restartable on the same ports and data directory. The process itself is the test
// kit's ManagedProcess (own process group, killed with it if the launcher's process dies).
import { describeExit, healthProbe, ManagedProcess, type ExitStatus } from '@kv/testkit';
import { probeHealth, type HealthState } from './health.js';

export type { ExitStatus };
export { describeExit };

export interface RestartOptions {
  /** Wait until the member answers /health (default true). */
  waitHealthy?: boolean;
  /** Longest wait for health (default: the cluster's readyTimeoutMs). */
  timeoutMs?: number;
}

export interface Member {
  readonly name: string;
  /** "http://127.0.0.1:PORT" ("https://" with the cluster's `tls` option) */
  readonly clientUrl: string;
  readonly peerUrl: string;
  /** "127.0.0.1:PORT" (the client URL without scheme). */
  readonly endpoint: string;
  readonly dataDir: string;
  /** Everything the member printed, across restarts. */
  readonly logFile: string;
  /** PID of the current process (of the last one once it has exited). */
  readonly pid: number;
  readonly running: boolean;
  /** How the last process ended; undefined while it runs. */
  readonly exitStatus: ExitStatus | undefined;
  /** The command line the member runs with (binary first). */
  readonly command: readonly string[];
  /** The last `lines` lines of output. */
  logTail(lines?: number): string;
  /** One `/health` probe. */
  health(): Promise<HealthState>;
  /** SIGTERM by PID, SIGKILL after the stop deadline; resolves when the process has exited. */
  stop(): Promise<ExitStatus | undefined>;
  /** Send `signal` (default SIGKILL) to the current process; false when it is not running. */
  kill(signal?: NodeJS.Signals): boolean;
  /** Resolves when the current process exits. */
  exited(): Promise<ExitStatus>;
  /** Stop (if running) and start again with the same flags, ports and data. */
  restart(opts?: RestartOptions): Promise<void>;
}

export interface MemberSpec {
  name: string;
  /** The CA the member's https client URL is checked against (https URLs when given). */
  ca?: Buffer;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  logFile: string;
  bin: string;
  args: string[];
  stopTimeoutMs: number;
  readyTimeoutMs: number;
}

export class MemberProcess implements Member {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly endpoint: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly command: readonly string[];
  private readonly proc: ManagedProcess;

  constructor(private readonly spec: MemberSpec) {
    this.name = spec.name;
    this.endpoint = `127.0.0.1:${spec.clientPort}`;
    const scheme = spec.ca ? 'https' : 'http';
    this.clientUrl = `${scheme}://${this.endpoint}`;
    this.peerUrl = `${scheme}://127.0.0.1:${spec.peerPort}`;
    this.dataDir = spec.dataDir;
    this.logFile = spec.logFile;
    this.proc = new ManagedProcess({
      name: `member ${spec.name}`,
      bin: spec.bin,
      args: spec.args,
      logFile: spec.logFile,
      stopTimeoutMs: spec.stopTimeoutMs,
    });
    this.command = this.proc.command;
  }

  get pid(): number {
    return this.proc.pid;
  }

  get running(): boolean {
    return this.proc.running;
  }

  get exitStatus(): ExitStatus | undefined {
    return this.proc.exitStatus;
  }

  /** Start the process (not waiting for health). */
  start(): void {
    this.proc.start();
  }

  logTail(lines = 30): string {
    return this.proc.logTail(lines);
  }

  health(): Promise<HealthState> {
    return probeHealth(this.clientUrl, 1000, this.spec.ca);
  }

  exited(): Promise<ExitStatus> {
    return this.proc.exited();
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): boolean {
    return this.proc.kill(signal);
  }

  stop(): Promise<ExitStatus | undefined> {
    return this.proc.stop();
  }

  async restart(opts: RestartOptions = {}): Promise<void> {
    await this.proc.stop();
    this.proc.start();
    if (opts.waitHealthy ?? true) await this.waitHealthy(opts.timeoutMs ?? this.spec.readyTimeoutMs);
  }

  /** Poll /health until it answers healthy; fail at once if the process exits. */
  waitHealthy(timeoutMs: number): Promise<void> {
    return this.proc.waitReady(healthProbe(this.clientUrl, this.spec.ca), { timeoutMs });
  }

  /** Flush and close the log file (after the process has stopped). */
  closeLog(): Promise<void> {
    return this.proc.closeLog();
  }
}
