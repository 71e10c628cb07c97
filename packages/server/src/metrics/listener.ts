// --listen-metrics-urls: a plain HTTP/1.1 listener (TLS for https URLs, with the client
// certificate settings, as etcd's) serving only what its handler answers — /metrics and the
// health endpoints. No gRPC here.
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { TlsOptions } from 'node:tls';
import type { Logger } from 'pino';

export interface MetricsListenerOptions {
  url: string;
  /** Required for https URLs. */
  tls?: TlsOptions;
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  logger: Logger;
}

export class MetricsListener {
  private server?: Server;

  constructor(private readonly o: MetricsListenerOptions) {}

  /** Listens; resolves with the port (useful with port 0). */
  async listen(): Promise<number> {
    const u = new URL(this.o.url);
    if (u.protocol === 'https:' && !this.o.tls)
      throw new Error(`--listen-metrics-urls ${this.o.url} is https but --cert-file/--key-file are not set`);
    const server = u.protocol === 'https:' ? createHttps(this.o.tls!, this.o.handler) : createHttp(this.o.handler);
    this.server = server;
    const host = u.hostname.replace(/^\[|\]$/g, '');
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(Number(u.port || (u.protocol === 'https:' ? 443 : 80)), host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.o.logger.warn({ err: String(err), address: this.o.url }, 'metrics listener error'));
    const addr = server.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }
}
