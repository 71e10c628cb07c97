#!/usr/bin/env node
// The bench's build step for the Go driver: builds tools/bench/go/bin/kvbench when `go` and etcd's
// Go client are installed, and says why it skips otherwise (the Node driver still works).
import { buildGoDriver, goUnavailableReason } from './godriver.js';

const reason = await goUnavailableReason();
if (reason !== undefined) {
  process.stderr.write(`@kv/bench: skipping the Go driver (kvbench): ${reason}\n`);
} else {
  try {
    const bin = await buildGoDriver((s) => process.stderr.write(`@kv/bench: ${s}\n`));
    process.stderr.write(`@kv/bench: Go driver ready: ${bin}\n`);
  } catch (e) {
    process.stderr.write(`@kv/bench: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
