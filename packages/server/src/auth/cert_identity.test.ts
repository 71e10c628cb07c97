// The path of a client certificate's CN from the connection to the call (cert_identity.ts): a
// client cannot put a CN in its own headers, a marked connection's CN arrives whole (UTF-8
// included), and a gateway's call is named by nobody.
import { Metadata } from '@grpc/grpc-js';
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { certNameKey, certNameOf, markClientCert, markedClientCert, stampCertName } from './cert_identity.js';

/** What grpc-js makes of HTTP/2 headers (Metadata.fromHttp2Headers), as the services see them. */
const metadataOf = (headers: Record<string, unknown>) => Metadata.fromHttp2Headers(headers as never);

describe('client certificate names', () => {
  it('drops a name the client sent and sets the connection mark', () => {
    const forged = { [certNameKey]: Buffer.from('root').toString('base64'), token: 'x' };
    stampCertName(forged, new Duplex());
    expect(forged).toEqual({ token: 'x' });
    expect(certNameOf(metadataOf(forged))).toBeUndefined();

    const conn = new Duplex();
    markClientCert(conn, 'ålice ☃');
    const headers: Record<string, unknown> = { [certNameKey]: Buffer.from('root').toString('base64') };
    stampCertName(headers, conn);
    expect(certNameOf(metadataOf(headers))).toEqual({ name: 'ålice ☃' });
  });

  it('reads the mark through a proxy that forwards property reads (Node HTTP/2 socket proxy), and nothing from non-objects', () => {
    const conn = new Duplex();
    markClientCert(conn, '');
    const proxy = new Proxy({}, { get: (_t, p) => (conn as unknown as Record<string | symbol, unknown>)[p] });
    expect(markedClientCert(proxy)).toBe('');
    expect(markedClientCert(undefined)).toBeUndefined();
    expect(markedClientCert('root')).toBeUndefined();
    const gone = new Proxy(
      {},
      {
        get: () => {
          throw new Error('ERR_HTTP2_SOCKET_UNBOUND');
        },
      },
    );
    expect(markedClientCert(gone)).toBeUndefined();
  });

  it("ignores the certificate of a gRPC gateway's call, as etcd", () => {
    const conn = new Duplex();
    markClientCert(conn, 'gateway');
    const headers: Record<string, unknown> = { 'grpcgateway-accept': 'application/json' };
    stampCertName(headers, conn);
    expect(certNameOf(metadataOf(headers))).toEqual({ gateway: 'gateway' });
  });
});
