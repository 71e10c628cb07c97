// --client-cert-auth identities: the common name of a verified client certificate is the caller
// (etcd's AuthInfoFromTLS, used by EtcdServer.AuthInfoFromCtx when a call carries no token).
//
// kvd terminates TLS in its own listener (listener.ts) and hands grpc-js a connection that may not
// be the TLS socket itself (authority.ts wraps some), so grpc-js's getAuthContext cannot be relied
// on. Instead the CN travels in three steps, each in one place:
// 1. listener.ts marks a connection whose certificate chain it verified with the leaf's CN
//    (markClientCert), on the TLS socket and on any wrapper handed to grpc-js;
// 2. grpc_http2.ts, which sees every gRPC stream before grpc-js does, removes any `certNameKey`
//    header the client sent and sets it from the stream's connection (stampCertName);
// 3. Identities.authInfo reads it from the call's metadata (certNameOf).
// Invariant: a call's metadata carries `certNameKey` only if step 2 put it there, i.e. only when
// the connection presented a certificate that chains to --trusted-ca-file.

/** The mark on a connection (a symbol: nothing from the wire can set it). */
const certNameMark = Symbol('kv.clientCertCommonName');

/** The metadata key from step 2 to step 3 (binary, so any UTF-8 CN survives gRPC's ASCII rule for text values). */
export const certNameKey = 'kv-client-cert-cn-bin';

/** Step 1: `conn` presented a verified certificate whose subject CN is `cn` ('' when it has none). */
export function markClientCert(conn: object, cn: string): void {
  Object.defineProperty(conn, certNameMark, { value: cn, configurable: true });
}

/** The CN `conn` was marked with, or undefined. Works through Node's HTTP/2 socket proxy (it forwards property reads). */
export function markedClientCert(conn: unknown): string | undefined {
  if (conn === null || typeof conn !== 'object') return undefined;
  try {
    const v = (conn as Record<symbol, unknown>)[certNameMark];
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined; // a session whose socket is gone
  }
}

/** Step 2: the stream's headers carry the connection's CN, and nothing the client put under that name. */
export function stampCertName(headers: Record<string, unknown>, conn: unknown): void {
  delete headers[certNameKey];
  const cn = markedClientCert(conn);
  if (cn !== undefined) headers[certNameKey] = Buffer.from(cn, 'utf8').toString('base64');
}

type MetadataLike = { get(key: string): unknown[] } | undefined;

/**
 * Step 3: the verified client certificate's CN of a call, or undefined without one. As etcd, a
 * call that came through a gRPC gateway (metadata `grpcgateway-accept`) is not named by the
 * certificate — the gateway's own — and gets undefined.
 */
export function certNameOf(metadata: MetadataLike): { name: string } | { gateway: string } | undefined {
  const v = metadata?.get(certNameKey)[0];
  if (v === undefined) return undefined;
  const name = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  if ((metadata?.get('grpcgateway-accept').length ?? 0) > 0) return { gateway: name };
  return { name };
}
