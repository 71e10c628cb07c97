// A small reader of Prometheus' text exposition format (version 0.0.4), enough for the
// dashboard's charts: samples by metric name with their labels. Comments and TYPE/HELP lines are
// skipped; label values are unescaped (\\, \", \n); values parse as Go's ParseFloat would
// (NaN, +Inf, -Inf); a trailing timestamp is ignored. Pure.

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export type Scrape = Map<string, Sample[]>;

function parseValue(s: string): number {
  if (s === '+Inf' || s === 'Inf') return Number.POSITIVE_INFINITY;
  if (s === '-Inf') return Number.NEGATIVE_INFINITY;
  if (s === 'NaN') return Number.NaN;
  const v = Number(s);
  if (Number.isNaN(v)) throw new Error(`bad sample value ${JSON.stringify(s)}`);
  return v;
}

/** Reads `{a="x",b="y"}` from `line` at `i` (just past `{`); returns the labels and the index after `}`. */
function parseLabels(line: string, i: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  for (;;) {
    while (line[i] === ' ' || line[i] === ',') i++;
    if (line[i] === '}') return [labels, i + 1];
    const eq = line.indexOf('=', i);
    if (eq < 0 || line[eq + 1] !== '"') throw new Error(`bad labels in ${JSON.stringify(line)}`);
    const name = line.slice(i, eq).trim();
    let v = '';
    let j = eq + 2;
    for (; j < line.length && line[j] !== '"'; j++) {
      if (line[j] === '\\') {
        j++;
        v += line[j] === 'n' ? '\n' : line[j];
      } else v += line[j];
    }
    if (j >= line.length) throw new Error(`unterminated label value in ${JSON.stringify(line)}`);
    labels[name] = v;
    i = j + 1;
  }
}

/** Every sample of a scrape, by metric name (a histogram's _bucket/_sum/_count are names of their own). */
export function parsePrometheus(text: string): Scrape {
  const out: Scrape = new Map();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!m) throw new Error(`bad sample line ${JSON.stringify(line)}`);
    const name = m[0];
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') [labels, i] = parseLabels(line, i + 1);
    const [value] = line.slice(i).trim().split(/\s+/);
    const list = out.get(name) ?? [];
    list.push({ labels, value: parseValue(value ?? '') });
    out.set(name, list);
  }
  return out;
}

/** The sum of a metric's samples (over all label sets), or undefined when the scrape has none. */
export function total(s: Scrape, name: string): number | undefined {
  const list = s.get(name);
  if (!list || list.length === 0) return undefined;
  return list.reduce((a, x) => a + x.value, 0);
}
