// Running one script against one freshly started member and rendering the result in golden-file
// form. The member and every background etcdctl are stopped (by PID) whatever happens.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Member, type MemberOptions } from './cluster.js';
import { outDir, scriptsDir, type ServerSpec } from './config.js';
import { runEtcdctl, startEtcdctl } from './etcdctl.js';
import { expandKeys, makeKeys } from './keys.js';
import { Normalizer } from './normalize.js';
import { sleep, type BackgroundProcess } from './proc.js';
import { parseScript, serializeScript, type Script, type Step } from './script.js';

/** Default wait after starting a background command and before stopping one. */
export const DEFAULT_SETTLE_MS = 1000;
/** Default deadline for one foreground etcdctl. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 20_000;

export interface RunOutcome {
  script: Script;
  /** Rendered output per step (null for steps that print nothing). */
  outputs: (string | null)[];
  /** The whole golden file as this run would write it. */
  rendered: string;
}

export class StepError extends Error {
  constructor(script: string, step: Step, cause: unknown) {
    super(`${script}:${step.line}: ${step.header[0]}: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'StepError';
  }
}

export async function runScript(script: Script, spec: ServerSpec, memberOptions: MemberOptions = {}): Promise<RunOutcome> {
  const keys = script.options.keys ? makeKeys() : undefined;
  let member: Member;
  try {
    member = await Member.start(spec, {
      ...memberOptions,
      extraArgs: [...(memberOptions.extraArgs ?? []), ...script.options.serverArgs.map((a) => expandKeys(a, keys))],
    });
  } catch (err) {
    keys?.remove();
    throw err;
  }
  const norm = new Normalizer(member.endpoint);
  const background = new Map<string, BackgroundProcess>();
  const outputs: (string | null)[] = script.steps.map(() => null);
  try {
    for (const [idx, step] of script.steps.entries()) {
      try {
        outputs[idx] = await runStep(step, member, norm, background);
      } catch (e) {
        throw new StepError(script.name, step, e);
      }
    }
  } finally {
    for (const p of background.values()) await p.stop(2000).catch(() => undefined);
    try {
      await member.destroy();
    } finally {
      keys?.remove();
    }
  }
  return { script, outputs, rendered: serializeScript(script, outputs) };
}

async function runStep(step: Step, member: Member, norm: Normalizer, background: Map<string, BackgroundProcess>): Promise<string | null> {
  const c = step.command;
  const settle = step.options.settleMs ?? DEFAULT_SETTLE_MS;
  switch (c.kind) {
    case 'etcdctl': {
      const args = norm.expandArgs(c.args);
      if (c.background !== null) {
        if (background.has(c.background)) throw new Error(`background id ${c.background} is in use`);
        background.set(c.background, startEtcdctl(member.endpoint, args));
        // Give the watch time to be registered before the next step changes anything.
        await sleep(settle);
        return null;
      }
      const r = await runEtcdctl(member.endpoint, args, {
        stdin: step.stdin === null ? undefined : norm.expand(step.stdin),
        timeoutMs: step.options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      });
      return norm.render(r, step.options);
    }
    case 'stop': {
      const p = background.get(c.id);
      if (p === undefined) throw new Error(`no background command '${c.id}'`);
      background.delete(c.id);
      // Let in-flight events arrive before ending it.
      await sleep(settle);
      return norm.render(await p.stop(), step.options);
    }
    case 'sleep':
      await sleep(c.ms);
      return null;
    case 'restart':
      await member.restart();
      return null;
  }
}

/** The golden scripts, sorted by file name. */
export function listScripts(dir = scriptsDir): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .sort()
    .map((f) => join(dir, f));
}

export function loadScript(file: string): { script: Script; text: string } {
  const text = readFileSync(file, 'utf8');
  return { script: parseScript(basename(file), text), text };
}

/** Keep a run's rendering under out/<label>/ so a failure can be diffed against the golden. */
export function saveOutcome(label: string, outcome: RunOutcome): string {
  const dir = join(outDir, label);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, outcome.script.name);
  writeFileSync(file, outcome.rendered);
  return file;
}
