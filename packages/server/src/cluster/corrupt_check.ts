// etcd's initial corruption check (--experimental-initial-corrupt-check): before a restarted
// member serves clients, it asks every peer for the HashKV of the key space at this member's own
// revision (POST /members/hashkv on the peer port) and refuses to start when a peer that compacted
// to the same revision has another hash — the two members applied the same log differently (or
// one's backend changed under it), and serving would spread the damage.
//
// Peers that are unreachable, behind this member, or compacted differently are skipped with a
// warning, as in etcd: the check can only prove a difference, never agreement with absent peers.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Logger } from 'pino';
import { DataDirError } from '../data_dir.js';
import { peerDialTls, type PeerTls } from '../transport/index.js';

export interface LocalHash {
  hash: number;
  compactRevision: bigint;
  revision: bigint;
}

export interface PeerHash {
  memberId: bigint;
  hash: number;
  compactRevision: bigint;
  /** The peer's current revision when it answered (the response header's). */
  revision: bigint;
}

/** The peer-port answer to POST /members/hashkv {"revision":"N"}. */
export function hashKvResponse(memberId: bigint, h: LocalHash): string {
  return JSON.stringify({
    header: { member_id: memberId.toString(), revision: h.revision.toString() },
    hash: h.hash,
    compact_revision: h.compactRevision.toString(),
  });
}

/** Reads the revision of a /members/hashkv request body. */
export function parseHashKvRequest(body: string): bigint {
  const v = (JSON.parse(body) as { revision?: unknown }).revision;
  if ((typeof v !== 'string' && typeof v !== 'number') || !/^\d+$/.test(String(v)))
    throw new Error('revision must be a non-negative integer');
  return BigInt(String(v));
}

function post(url: URL, body: string, tls: PeerTls | undefined, timeoutMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const options = {
      method: 'POST',
      timeout: timeoutMs,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    };
    const req = url.protocol === 'https:' ? httpsRequest(url, { ...options, ...(tls ? peerDialTls(tls) : {}) }) : httpRequest(url, options);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 64 * 1024) req.destroy(new Error('answer too large'));
        else parts.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString() }));
      res.on('error', reject);
    });
    req.end(body);
  });
}

/**
 * One peer's HashKV at `revision`, from any of its peer URLs; undefined (and a warning) if none
 * answers — also when the peer cannot hash at that revision (behind it, or compacted past it).
 */
export async function peerHash(
  id: bigint,
  urls: string[],
  revision: bigint,
  o: { tls?: PeerTls; timeoutMs: number; logger: Logger; what?: string },
): Promise<PeerHash | undefined> {
  for (const u of urls) {
    try {
      const r = await post(new URL('/members/hashkv', u), JSON.stringify({ revision: revision.toString() }), o.tls, o.timeoutMs);
      if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.text.slice(0, 200)}`);
      const j = JSON.parse(r.text) as { header?: { revision?: string }; hash: number; compact_revision: string };
      return { memberId: id, hash: j.hash >>> 0, compactRevision: BigInt(j.compact_revision), revision: BigInt(j.header?.revision ?? '0') };
    } catch (err) {
      o.logger.warn(
        { peer: id.toString(16), url: u, err: (err as Error).message },
        `${o.what ?? 'initial corruption check'}: cannot get the hash of a peer`,
      );
    }
  }
  return undefined;
}

/** A data dir that disagrees with the peers' (kvd reports it like any other damaged data dir). */
export class DataInconsistencyError extends DataDirError {}

/** Throws DataInconsistencyError when a comparable peer holds another hash at our revision. */
export async function initialCorruptCheck(o: {
  memberId: bigint;
  local: LocalHash;
  peers: { id: bigint; urls: string[] }[];
  tls?: PeerTls;
  timeoutMs: number;
  logger: Logger;
}): Promise<void> {
  const { local, logger } = o;
  logger.info(
    { revision: local.revision.toString(), hash: local.hash, compactRevision: local.compactRevision.toString() },
    'initial corruption check: comparing with peers',
  );
  const answers = await Promise.all(o.peers.map((p) => peerHash(p.id, p.urls, local.revision, o)));
  const mismatched: string[] = [];
  for (const a of answers) {
    if (!a) continue;
    if (a.compactRevision !== local.compactRevision) {
      logger.warn(
        {
          peer: a.memberId.toString(16),
          peerCompactRevision: a.compactRevision.toString(),
          compactRevision: local.compactRevision.toString(),
        },
        'initial corruption check: peer compacted to another revision; cannot compare',
      );
      continue;
    }
    if (a.hash !== local.hash) mismatched.push(`${a.memberId.toString(16)} (hash ${a.hash}, ours ${local.hash})`);
  }
  if (mismatched.length > 0) {
    throw new DataInconsistencyError(
      `${o.memberId.toString(16)} found data inconsistency with peers at revision ${local.revision}: ${mismatched.join(', ')}. ` +
        `kvd will not serve this data: remove this member from its cluster and add it back with an empty data dir`,
    );
  }
  logger.info('initial corruption check passed');
}
