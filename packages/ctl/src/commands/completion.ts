// Shell completion. etcdctl 3.4.23's is cobra's: `completion bash|zsh|fish|powershell` prints a
// script that asks the binary itself, `etcdctl __complete <words...>`, for candidates — one
// "word<TAB>description" per line, then ":<directive>" (a bit set: 1 error, 2 no space after the
// word, 4 no file completion). kvctl answers `__complete` the same way from its command tree,
// and its scripts (bash, zsh, fish; written for kvctl) speak that protocol.
import type { Command, Option } from 'commander';
import { CtlExit, ExitCode } from '../exit.js';
import type { Out } from '../io.js';

export const Directive = { Default: 0, Error: 1, NoSpace: 2, NoFileComp: 4 } as const;

const directiveNames: Record<number, string> = {
  0: 'ShellCompDirectiveDefault',
  1: 'ShellCompDirectiveError',
  2: 'ShellCompDirectiveNoSpace',
  4: 'ShellCompDirectiveNoFileComp',
};

/** Values offered for flags whose values are a fixed set. */
const flagValues: Record<string, string[]> = {
  'write-out': ['simple', 'json', 'fields', 'protobuf', 'table'],
  load: ['s', 'm', 'l', 'xl'],
  consistency: ['l', 's'],
  order: ['ASCEND', 'DESCEND'],
  'sort-by': ['CREATE', 'KEY', 'MODIFY', 'VALUE', 'VERSION'],
};

function visibleCommands(cmd: Command): Command[] {
  return cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);
}

/** The options a command accepts: its own, then its ancestors' (the global flags last). */
function optionsOf(cmd: Command): Option[] {
  const out: Option[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) out.push(...c.options.filter((o) => !o.hidden));
  return out;
}

function findOption(cmd: Command, flag: string): Option | undefined {
  return optionsOf(cmd).find((o) => o.long === flag || o.short === flag);
}

const takesValue = (o: Option) => o.required || o.optional;

export interface Completion {
  candidates: { word: string; description: string }[];
  directive: number;
}

/** Candidates for the last of `words` (the word under the cursor; '' after a space). */
export function complete(root: Command, words: string[]): Completion {
  const toComplete = words.length > 0 ? words[words.length - 1]! : '';
  const before = words.slice(0, -1);
  let cmd = root;
  let pendingValueFor: Option | undefined;
  let positional = 0;
  for (const w of before) {
    if (pendingValueFor) {
      pendingValueFor = undefined;
      continue;
    }
    if (w === '--') break;
    if (w.startsWith('-')) {
      const o = findOption(cmd, w.split('=')[0]!);
      if (o && takesValue(o) && !w.includes('=')) pendingValueFor = o;
      continue;
    }
    const sub = positional === 0 ? cmd.commands.find((c) => c.name() === w || c.aliases().includes(w)) : undefined;
    if (sub) cmd = sub;
    else positional++;
  }
  const values = (o: Option | undefined, prefix: string, wordPrefix = ''): Completion | undefined => {
    if (!o) return undefined;
    const vs = flagValues[o.attributeName().replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())];
    if (!vs) return { candidates: [], directive: Directive.Default };
    return {
      candidates: vs.filter((v) => v.startsWith(prefix)).map((v) => ({ word: wordPrefix + v, description: '' })),
      directive: Directive.NoFileComp,
    };
  };
  if (pendingValueFor) return values(pendingValueFor, toComplete)!;
  if (toComplete.startsWith('-')) {
    const eq = toComplete.indexOf('=');
    if (eq > 0) {
      const r = values(findOption(cmd, toComplete.slice(0, eq)), toComplete.slice(eq + 1), toComplete.slice(0, eq + 1));
      if (r) return r;
    }
    const seen = new Set<string>();
    const candidates: Completion['candidates'] = [];
    for (const o of optionsOf(cmd)) {
      const name = o.long ?? o.short;
      if (!name || seen.has(name) || name.startsWith('--no-') || !name.startsWith(toComplete)) continue;
      seen.add(name);
      candidates.push({ word: name, description: o.description });
    }
    return { candidates, directive: Directive.NoFileComp };
  }
  const subs = visibleCommands(cmd);
  if (subs.length > 0 && positional === 0) {
    const candidates = subs
      .filter((c) => c.name().startsWith(toComplete))
      .map((c) => ({ word: c.name(), description: c.description() }))
      .sort((a, b) => (a.word < b.word ? -1 : a.word > b.word ? 1 : 0));
    return { candidates, directive: Directive.NoFileComp };
  }
  // A leaf's arguments are keys, ids, names: nothing to offer, files allowed (cobra's default).
  return { candidates: [], directive: Directive.Default };
}

/** `kvctl __complete words...` (and `__completeNoDesc`): prints the protocol's lines. */
export function printCompletion(root: Command, words: string[], out: Out, err: Out, withDescriptions: boolean): void {
  const r = complete(root, words);
  for (const c of r.candidates) {
    const d = withDescriptions && c.description ? `\t${c.description.split('\n')[0]}` : '';
    out.print(`${c.word}${d}\n`);
  }
  out.print(`:${r.directive}\n`);
  err.print(`Completion ended with directive: ${directiveNames[r.directive] ?? String(r.directive)}\n`);
}

export function bashScript(prog: string): string {
  const fn = `__${prog}_complete`;
  return `# bash completion for ${prog}. Load it with:  source <(${prog} completion bash)
# It asks \`${prog} __complete <words...>\` for the candidates of the word under the cursor.
${fn}() {
    local line="\${COMP_LINE:0:COMP_POINT}"
    local -a words
    read -ra words <<< "$line"
    # After a space the word being completed is a new, empty one.
    [[ "$line" =~ [[:space:]]$ ]] && words+=("")
    local cur="\${words[\${#words[@]}-1]}"
    local out directive
    out=$("\${words[0]}" __complete "\${words[@]:1}" 2>/dev/null) || return
    directive="\${out##*:}"
    out="\${out%:*}"
    local -a cands=()
    local word rest
    while IFS=$'\\t' read -r word rest; do
        [[ -n "$word" ]] && cands+=("$word")
    done <<< "$out"
    # bash treats '=' as a word break: complete only what follows it.
    local prefix=""
    if [[ "$cur" == -*=* ]]; then prefix="\${cur%%=*}="; cur="\${cur#*=}"; fi
    COMPREPLY=()
    local c
    for c in "\${cands[@]}"; do
        c="\${c#"$prefix"}"
        [[ "$c" == "$cur"* ]] && COMPREPLY+=("$c")
    done
    if (( (directive & 2) != 0 )); then compopt -o nospace 2>/dev/null; fi
    if (( \${#COMPREPLY[@]} == 0 && (directive & 4) == 0 && (directive & 1) == 0 )); then
        compopt -o default 2>/dev/null
    fi
}
complete -o nosort -F ${fn} ${prog} 2>/dev/null || complete -F ${fn} ${prog}
`;
}

export function zshScript(prog: string): string {
  return `#compdef ${prog}
# zsh completion for ${prog}. Load it with:  source <(${prog} completion zsh)
# (or save it as _${prog} in a directory of $fpath). It asks \`${prog} __complete <words...>\`.
_${prog}() {
    local out directive line word desc
    local -a cands
    out="$(\${words[1]} __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)" || return 1
    directive="\${out##*:}"
    out="\${out%:*}"
    for line in "\${(@f)out}"; do
        [[ -z "$line" ]] && continue
        word="\${line%%$'\\t'*}"
        desc=""
        [[ "$line" == *$'\\t'* ]] && desc="\${line#*$'\\t'}"
        cands+=("\${word//:/\\\\:}\${desc:+:$desc}")
    done
    if (( \${#cands} > 0 )); then
        _describe -t ${prog} '${prog}' cands
    elif (( (directive & 4) == 0 && (directive & 1) == 0 )); then
        _files
    fi
}
if [[ "\${funcstack[1]}" == "_${prog}" ]]; then _${prog} "$@"; else compdef _${prog} ${prog}; fi
`;
}

export function fishScript(prog: string): string {
  return `# fish completion for ${prog}. Load it with:  ${prog} completion fish | source
# It asks \`${prog} __complete <words...>\` (fish reads its "word<TAB>description" lines as is).
function __${prog}_complete
    set -l words (commandline -opc) (commandline -ct)
    set -e words[1]
    set -l out (${prog} __complete $words 2>/dev/null)
    for line in $out[1..-2]
        echo $line
    end
end
complete -c ${prog} -f -a '(__${prog}_complete)'
`;
}

export function completionCommand(prog: string, shell: 'bash' | 'zsh' | 'fish' | 'powershell', out: Out): void {
  switch (shell) {
    case 'bash':
      return out.print(bashScript(prog));
    case 'zsh':
      return out.print(zshScript(prog));
    case 'fish':
      return out.print(fishScript(prog));
    case 'powershell':
      throw new CtlExit(ExitCode.BadFeature, 'powershell completion is not available in kvctl (bash, zsh and fish are)');
  }
}
