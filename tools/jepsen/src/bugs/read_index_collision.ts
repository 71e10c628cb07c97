// Preloaded into kvd (`node --import`, through NODE_OPTIONS) by `pnpm jepsen --bug
// read-index-collision`: puts back the ReadIndex contexts kvd had before commit b28ae1f, an 8-byte
// sequence number per member from 1 at every start, with no member id and no nonce. Two members'
// rounds then collide at the leader, which ignores the second (it waits for a retry), and a
// restarted member's round can be released by an answer meant for its previous run.
//
// It patches the very class kvd builds its contexts with: Node resolves the workspace symlinks to
// one real path, so this module and kvd share @kv/server's module instance. Nothing in kvd knows of
// it; without the preload, kvd is unchanged.
import { ReadContexts } from '@kv/server';

const counters = new WeakMap<object, bigint>();
ReadContexts.prototype.next = function next(this: ReadContexts): Buffer {
  const seq = (counters.get(this) ?? 0n) + 1n;
  counters.set(this, seq);
  const ctx = Buffer.alloc(8);
  ctx.writeBigUInt64BE(seq);
  return ctx;
};
process.stderr.write('jepsen: bug read-index-collision put back (ReadIndex contexts are a per-start counter)\n');
