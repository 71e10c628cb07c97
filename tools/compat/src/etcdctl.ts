// Running the real etcdctl against one endpoint. The endpoint is injected as a global flag ahead
// of the script's own arguments; inherited ETCDCTL_* variables are dropped so the caller's shell
// cannot change what a script means.
import { etcdctlBin } from './config.js';
import { runProcess, startBackground, type BackgroundProcess, type RunResult } from './proc.js';

export function etcdctlEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('ETCDCTL_')) env[k] = v;
  }
  env.ETCDCTL_API = '3';
  return env;
}

export function etcdctlArgs(endpoint: string, args: readonly string[]): string[] {
  return [`--endpoints=${endpoint}`, ...args];
}

export function runEtcdctl(
  endpoint: string,
  args: readonly string[],
  opts: { stdin?: string; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<RunResult> {
  return runProcess(etcdctlBin, etcdctlArgs(endpoint, args), {
    env: etcdctlEnv(),
    stdin: opts.stdin,
    timeoutMs: opts.timeoutMs ?? 20_000,
    signal: opts.signal,
  });
}

export function startEtcdctl(endpoint: string, args: readonly string[]): BackgroundProcess {
  return startBackground(etcdctlBin, etcdctlArgs(endpoint, args), { env: etcdctlEnv() });
}
