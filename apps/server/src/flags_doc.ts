// docs/flags.md's tables, rendered from flag_table.ts so the page cannot drift from the code:
// flags_doc.test.ts compares the page with this rendering (KV_UPDATE_DOCS=1 rewrites it).
import { flagGroups, type FlagDef } from './flag_table.js';
import { envName } from './flags.js';

function what(d: FlagDef): string {
  const u = d.use;
  if (d.kvdOnly !== undefined) return d.kvdOnly;
  if ('apply' in u || 'kvd' in u) return "implemented, with etcd's meaning";
  if ('noEffect' in u) return `accepted, no effect: ${u.noEffect}`;
  if ('notYet' in u) return `default accepted; any other value refused until issue ${u.notYet}`;
  return `default accepted; any other value refused: ${u.refuse}`;
}

function row(d: FlagDef): string {
  const def = d.helpDef ?? d.def;
  const shown = def === '' ? "''" : `\`${def}\``;
  const yaml = d.yaml === null ? '—' : `\`${d.yaml ?? d.name}\``;
  return `| \`--${d.name}\` | ${shown} | \`${envName(d.name)}\` | ${yaml} | ${what(d)} |`;
}

/** The tables of docs/flags.md: one section per group of `etcd --help`, one row per flag. */
export function flagsMarkdown(): string {
  return flagGroups
    .map((g) =>
      [
        `### ${g.title}`,
        '',
        '| flag | default | ETCD_* variable | config-file key | kvd |',
        '| --- | --- | --- | --- | --- |',
        ...g.flags.map(row),
      ].join('\n'),
    )
    .join('\n\n');
}
