// Reading a member's /metrics in tests: Prometheus' text format split into TYPE lines and samples.

export interface Scrape {
  types: Map<string, string>;
  /** `name{labels}` exactly as exposed (prom-client's label order) → value. */
  samples: Map<string, number>;
  text: string;
}

export function parseScrape(text: string): Scrape {
  const types = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) types.set(t[1]!, t[2]!);
    else if (line !== '' && !line.startsWith('#')) {
      const i = line.lastIndexOf(' ');
      samples.set(line.slice(0, i), Number(line.slice(i + 1)));
    }
  }
  return { types, samples, text };
}

/** GET /metrics (or `path`) on a loopback port; anything but a 200 in Prometheus' text format throws. */
export async function scrape(port: number, path = '/metrics'): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  const type = res.headers.get('content-type') ?? '';
  if (res.status !== 200 || !/^text\/plain; version=0\.0\.4/.test(type)) {
    throw new Error(`GET ${path} on :${port}: ${res.status} ${type}`);
  }
  return parseScrape(await res.text());
}

/** The labels of one sample key `name{a="x",b="y"}` (values unescaped only as far as tests need). */
export function sampleLabels(key: string): { name: string; labels: Map<string, string> } | undefined {
  const m = /^([^{]+)(?:\{(.*)\})?$/.exec(key);
  if (!m) return undefined;
  const labels = new Map<string, string>();
  for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels.set(l[1]!, l[2]!);
  return { name: m[1]!, labels };
}

/** A sample's value; the labels of `name{a="x",b="y"}` are matched in any order, all of them. */
export function value(s: Scrape, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels);
  for (const [key, v] of s.samples) {
    const got = sampleLabels(key);
    if (!got || got.name !== name || got.labels.size !== want.length) continue;
    if (want.every(([k, x]) => got.labels.get(k) === x)) return v;
  }
  return undefined;
}

/** The sum over every sample of `name` whose labels include `labels` (PromQL's sum() of a selector). */
export function sumOf(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const [key, v] of s.samples) {
    const got = sampleLabels(key);
    if (got?.name === name && Object.entries(labels).every(([k, x]) => got.labels.get(k) === x)) total += v;
  }
  return total;
}
