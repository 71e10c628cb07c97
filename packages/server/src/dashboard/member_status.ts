// POST /ui/api/members: every other member's Status, asked by this member over their client
// URLs through their own JSON gateway (/v3/maintenance/status), because a browser may reach only
// the member that served the page (and the page's CSP allows only its own origin). The browser's
// Authorization header is passed on (simple tokens and JWTs are valid on every member), https
// URLs are dialled with kvd's client TLS files, every ask is bounded by `timeoutMs`, and a member
// that does not answer is reported `unreachable` with the reason — never a made-up value.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { HttpAnswer } from '../health.js';
import { errorAnswer } from '../gateway/errors.js';
import { securityHeaders } from './http.js';

export interface MemberRef {
  id: bigint;
  name: string;
  clientUrls: string[];
}

export interface ClientTlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** False only for --auto-tls certificates, which nothing can verify (etcd skips verification too). */
  rejectUnauthorized: boolean;
}

export interface MemberStatusDeps {
  selfId: bigint;
  members: () => MemberRef[];
  /**
   * Throws (an etcd error: RpcError or a gRPC-shaped one) unless the caller may read the cluster:
   * with auth enabled, a valid token naming a user, as the gateway requires of a KV read.
   */
  authorize: (authorization: string | undefined) => Promise<void>;
  tls: () => ClientTlsMaterial;
  timeoutMs: number;
}

/** One member's row: the Status JSON its gateway answered, or why there is none. */
export interface MemberStatusRow {
  ID: string;
  name: string;
  /** The client URL that answered. */
  url?: string;
  status?: unknown;
  /** "unreachable: …" when no URL answered; the member's own error text when it refused. */
  error?: string;
}

interface Reply {
  status: number;
  body: string;
}

function post(url: URL, body: string, headers: Record<string, string>, tls: ClientTlsMaterial, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const opts = { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, timeout: timeoutMs };
    const req =
      url.protocol === 'https:'
        ? httpsRequest(url, { ...opts, ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.rejectUnauthorized })
        : httpRequest(url, opts);
    // One deadline for connect, answer and body together.
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.end(body);
  });
}

/** Asks one member's Status through its client URLs in order; the first that answers wins. */
export async function askStatus(
  m: MemberRef,
  authorization: string | undefined,
  deps: Pick<MemberStatusDeps, 'tls' | 'timeoutMs'>,
): Promise<MemberStatusRow> {
  const row: MemberStatusRow = { ID: m.id.toString(), name: m.name };
  const headers: Record<string, string> = authorization ? { Authorization: authorization } : {};
  const why: string[] = [];
  for (const raw of m.clientUrls) {
    let url: URL;
    try {
      url = new URL('/v3/maintenance/status', raw);
    } catch {
      why.push(`${raw}: not a URL`);
      continue;
    }
    try {
      const r = await post(url, '{}', headers, deps.tls(), deps.timeoutMs);
      const parsed = JSON.parse(r.body) as { error?: unknown; message?: unknown };
      row.url = raw;
      if (r.status === 200) row.status = parsed;
      else row.error = String(parsed.message ?? parsed.error ?? `HTTP ${r.status}`);
      return row;
    } catch (err) {
      why.push(`${raw}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  row.error = `unreachable: ${why.length > 0 ? why.join('; ') : 'the member has no client URL yet'}`;
  return row;
}

const jsonHeaders = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...securityHeaders };

/** The /ui/api/members answer: {"members": [row of every member but this one]}; auth first. */
export async function answerMemberStatuses(method: string, authorization: string | undefined, deps: MemberStatusDeps): Promise<HttpAnswer> {
  if (method !== 'POST') return { status: 405, headers: { ...jsonHeaders, Allow: 'POST' }, body: '{"error":"method not allowed"}' };
  try {
    await deps.authorize(authorization);
  } catch (err) {
    const e = err as { code?: unknown; details?: unknown; message?: unknown };
    const a = errorAnswer(typeof e.code === 'number' ? e.code : 2, typeof e.details === 'string' ? e.details : String(e.message ?? err));
    return { ...a, headers: { ...jsonHeaders } };
  }
  const others = deps.members().filter((m) => m.id !== deps.selfId);
  const rows = await Promise.all(others.map((m) => askStatus(m, authorization, deps)));
  return { status: 200, headers: jsonHeaders, body: JSON.stringify({ members: rows }) };
}
