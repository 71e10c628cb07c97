// Free TCP ports on 127.0.0.1: bind port 0, read the port the kernel chose, close.
import { createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (another process may still take it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** `n` distinct free ports. */
export async function freePorts(n: number): Promise<number[]> {
  const seen = new Set<number>();
  // Bounded: the kernel hands out fresh ephemeral ports, so repeats are rare.
  for (let tries = 0; seen.size < n && tries < n * 20; tries++) seen.add(await freePort());
  if (seen.size < n) throw new Error(`could not find ${n} free ports on 127.0.0.1`);
  return [...seen];
}
