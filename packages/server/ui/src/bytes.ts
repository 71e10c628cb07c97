// Keys and values are arbitrary bytes; the gateway carries them as base64. How the dashboard
// shows them: UTF-8 text when they decode as such (no control characters but tab and newline),
// else hex for short values and base64 for long ones. Pure; runs in the browser and in node.

export function b64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToB64(b: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < b.length; i++) bin += String.fromCharCode(b[i]!);
  return btoa(bin);
}

export const utf8ToBytes = (s: string): Uint8Array => new TextEncoder().encode(s);
export const strToB64 = (s: string): string => bytesToB64(utf8ToBytes(s));

export interface Shown {
  kind: 'text' | 'hex' | 'base64';
  text: string;
}

/** Values longer than this that are not text are shown as base64 rather than hex. */
export const hexLimit = 256;

// C0 controls but \t \n \r, and DEL.
const controls = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** How bytes are shown: text when valid UTF-8 without control characters, else hex or base64. */
export function showBytes(b: Uint8Array): Shown {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(b);
    if (!controls.test(text)) return { kind: 'text', text };
  } catch {
    // not UTF-8
  }
  if (b.length <= hexLimit) return { kind: 'hex', text: Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ') };
  return { kind: 'base64', text: bytesToB64(b) };
}

/** A gateway base64 field (absent means empty) as shown. */
export const showB64 = (b64: string | undefined): Shown => showBytes(b64ToBytes(b64 ?? ''));

/**
 * etcd's prefix range end (clientv3.GetPrefixRangeEnd): the prefix with its last byte below 0xff
 * incremented and what follows dropped; no such byte (empty or all 0xff) means "to the end",
 * which etcd spells as the single byte 0.
 */
export function prefixRangeEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i]! += 1;
      return end;
    }
  }
  return new Uint8Array([0]);
}

/** The smallest key after `key` (key + a 0 byte): where the next page of a listing starts. */
export function keyAfter(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out.set(key);
  return out;
}

/** A byte count as people read it (1024-based, as etcdctl's humanized sizes). */
export function humanBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return String(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}
