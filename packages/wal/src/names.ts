// File names: segments are `%016x-%016x.wal` (sequence number, first raft index the segment may
// hold); snapshot files are `%016x-%016x.snap` (term, index). Fixed-width hex, so the names sort
// in numeric order.

const SEGMENT_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;
const SNAP_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

function hex16(n: bigint): string {
  return n.toString(16).padStart(16, '0');
}

export interface SegmentName {
  name: string;
  seq: bigint;
  firstIndex: bigint;
}

export function segmentName(seq: bigint, firstIndex: bigint): string {
  return `${hex16(seq)}-${hex16(firstIndex)}.wal`;
}

export function parseSegmentName(name: string): SegmentName | undefined {
  const m = SEGMENT_RE.exec(name);
  if (!m) return undefined;
  return { name, seq: BigInt(`0x${m[1]}`), firstIndex: BigInt(`0x${m[2]}`) };
}

/** The segment names among `names`, in sequence order. */
export function segmentNames(names: readonly string[]): SegmentName[] {
  const out: SegmentName[] = [];
  for (const n of names) {
    const s = parseSegmentName(n);
    if (s) out.push(s);
  }
  return out.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
}

export interface SnapName {
  name: string;
  term: bigint;
  index: bigint;
}

export function snapName(term: bigint, index: bigint): string {
  return `${hex16(term)}-${hex16(index)}.snap`;
}

export function parseSnapName(name: string): SnapName | undefined {
  const m = SNAP_RE.exec(name);
  if (!m) return undefined;
  return { name, term: BigInt(`0x${m[1]}`), index: BigInt(`0x${m[2]}`) };
}
