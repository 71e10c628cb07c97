// -w table: etcdctl renders with olekukonko/tablewriter (defaults: borders, header row centred
// and upper-cased, cells right-aligned via SetAlignment(ALIGN_RIGHT), cells longer than 30
// columns wrapped at spaces). This reproduces that rendering.
import type { etcdserverpb } from '@kv/api';
import {
  UnsupportedPrinter,
  endpointHashKVRows,
  endpointHealthRows,
  endpointStatusRows,
  memberListRows,
  type EpHashKV,
  type EpHealth,
  type EpStatus,
  type PrinterContext,
} from './printer.js';

const MAX_CELL_WIDTH = 30;

/** Display width: East Asian wide and fullwidth characters take two columns. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0 || cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) continue;
    if (/\p{M}/u.test(ch) && cp !== 0x20) continue;
    w += isWide(cp) ? 2 : 1;
  }
  return w;
}

function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

/** tablewriter's minimal-raggedness word wrap (WrapString/WrapWords). */
export function wrapString(s: string, lim: number): string[] {
  const words = s.replace(/\n/g, ' ').split(' ');
  for (const w of words) lim = Math.max(lim, displayWidth(w));
  const n = words.length;
  const PENALTY = 1e5;
  const len = (i: number, j: number): number => {
    let l = 0;
    for (let k = i; k <= j; k++) l += displayWidth(words[k]!) + (k > i ? 1 : 0);
    return l;
  };
  const nbrk = new Array<number>(n).fill(0);
  const cost = new Array<number>(n).fill(2147483647);
  for (let i = n - 1; i >= 0; i--) {
    if (len(i, n - 1) <= lim) {
      cost[i] = 0;
      nbrk[i] = n;
    } else {
      for (let j = i + 1; j < n; j++) {
        const d = lim - len(i, j - 1);
        let c = d * d + cost[j]!;
        if (len(i, j - 1) > lim) c += PENALTY;
        if (c < cost[i]!) {
          cost[i] = c;
          nbrk[i] = j;
        }
      }
    }
  }
  const lines: string[] = [];
  for (let i = 0; i < n; i = nbrk[i]!) lines.push(words.slice(i, nbrk[i]).join(' '));
  return lines;
}

/** tablewriter.Title: '_' and (non-numeric) '.' become spaces, trimmed, upper-cased. */
function title(name: string): string {
  const rs = [...name];
  const numOrSpace = (c: string | undefined) => c !== undefined && /[0-9 ]/.test(c);
  for (let i = 0; i < rs.length; i++) {
    if (rs[i] === '_') rs[i] = ' ';
    else if (rs[i] === '.') {
      if ((i !== 0 && !numOrSpace(rs[i - 1])) || (i !== rs.length - 1 && !numOrSpace(rs[i + 1]))) rs[i] = ' ';
    }
  }
  let t = rs.join('').trim();
  if (t.length === 0 && name.length > 0) t = ' ';
  return t.toUpperCase();
}

const padCenter = (s: string, w: number): string => {
  const gap = w - displayWidth(s);
  if (gap <= 0) return s;
  const left = Math.floor(gap / 2);
  return ' '.repeat(left) + s + ' '.repeat(gap - left);
};
const padLeft = (s: string, w: number): string => {
  const gap = w - displayWidth(s);
  return gap > 0 ? ' '.repeat(gap) + s : s;
};

/** Render a table exactly as etcdctl's tablewriter configuration does. */
export function renderTable(hdr: string[], rows: string[][]): string {
  const widths = new Map<number, number>();
  const cell = (text: string, col: number): string[] => {
    let maxWidth = 0;
    const raw = text.split('\n');
    for (const l of raw) maxWidth = Math.max(maxWidth, displayWidth(l));
    if (maxWidth > MAX_CELL_WIDTH) maxWidth = MAX_CELL_WIDTH;
    let newMax = maxWidth;
    const lines = wrapString(raw.join(' '), maxWidth);
    for (const l of lines) newMax = Math.max(newMax, displayWidth(l));
    const cur = widths.get(col);
    if (cur === undefined || cur < newMax || cur === 0) widths.set(col, newMax);
    return lines;
  };
  const header = hdr.map((h, i) => cell(h, i));
  const body = rows.map((r) => r.map((c, i) => cell(c, i)));
  const ncol = widths.size;
  const w = (i: number) => widths.get(i) ?? 0;

  let out = '';
  const line = () => {
    out += '+';
    for (let i = 0; i < ncol; i++) out += '-'.repeat(w(i) + 2) + '+';
    out += '\n';
  };
  line();
  const hHeight = Math.max(...header.map((c) => c.length));
  for (let x = 0; x < hHeight; x++) {
    out += '|';
    for (let y = 0; y < ncol; y++) out += ' ' + padCenter(title(header[y]?.[x] ?? ''), w(y)) + ' |';
    out += '\n';
  }
  line();
  for (const r of body) {
    const height = Math.max(...r.map((c) => c.length));
    const cols = r.map((c) => [...c, ...new Array<string>(height - c.length).fill('  ')]);
    for (let x = 0; x < height; x++) {
      for (let y = 0; y < cols.length; y++) out += '| ' + padLeft(cols[y]![x]!, w(y)) + ' ';
      out += '|\n';
    }
  }
  line();
  return out;
}

export class TablePrinter extends UnsupportedPrinter {
  constructor(private readonly ctx: PrinterContext) {
    super('table');
  }

  private render({ hdr, rows }: { hdr: string[]; rows: string[][] }): void {
    this.ctx.out.print(renderTable(hdr, rows));
  }

  override memberList(r: etcdserverpb.MemberListResponse): void {
    this.render(memberListRows(r));
  }
  override endpointHealth(list: EpHealth[]): void {
    this.render(endpointHealthRows(list));
  }
  override endpointStatus(list: EpStatus[]): void {
    this.render(endpointStatusRows(list));
  }
  override endpointHashKV(list: EpHashKV[]): void {
    this.render(endpointHashKVRows(list));
  }
}
