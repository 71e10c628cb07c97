// Runs etcd's quorum testdata: `committed` and `vote` over a majority config (cfg) or a joint
// config (cfg + cfgj), with extra consistency checks whose failures show up in the output.

import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';
import { runDataDrivenFile, testdataFiles, type TestData } from '../testing/datadriven.js';
import { JointConfig } from './joint.js';
import { MajorityConfig } from './majority.js';
import { type AckedIndexer, indexString, mapAckIndexer, voteResultString } from './quorum.js';
import { alternativeMajorityCommittedIndex } from '../testing/quorum.js';

const dir = fileURLToPath(new URL('./testdata', import.meta.url));

function handle(d: TestData): string {
  let joint = false;
  const ids: bigint[] = [];
  const idsj: bigint[] = [];
  // Per voter in order of appearance in (cfg, cfgj) without repetition; 0 means "_" (unknown).
  // For votes: 1 = no, 2 = yes, 0 = not voted.
  const idxs: bigint[] = [];
  const votes: bigint[] = [];
  for (const arg of d.cmdArgs) {
    for (const v of arg.vals) {
      switch (arg.key) {
        case 'cfg':
          ids.push(BigInt(v));
          break;
        case 'cfgj':
          joint = true;
          if (v === 'zero') {
            if (arg.vals.length !== 1) throw new Error("cannot mix 'zero' into configuration");
          } else idsj.push(BigInt(v));
          break;
        case 'idx':
          if (v === '_') idxs.push(0n);
          else {
            const n = BigInt(v);
            if (n === 0n) throw new Error('cannot use 0 as idx');
            idxs.push(n);
          }
          break;
        case 'votes':
          if (v === 'y') votes.push(2n);
          else if (v === 'n') votes.push(1n);
          else if (v === '_') votes.push(0n);
          else throw new Error(`unknown vote: ${v}`);
          break;
        default:
          throw new Error(`unknown arg ${arg.key}`);
      }
    }
  }
  const c = new MajorityConfig(ids);
  const cj = new MajorityConfig(idsj);

  // Assigns the inputs to the voters in order of first appearance; placeholders are dropped,
  // since "no entry" differs from "entry 0".
  const lookup = (input: bigint[]): Map<bigint, bigint> => {
    const l = new Map<bigint, bigint>();
    let p = 0;
    for (const id of [...ids, ...idsj]) {
      if (l.has(id)) continue;
      if (p < input.length) l.set(id, input[p++]);
    }
    for (const [id, v] of l) if (v === 0n) l.delete(id);
    return l;
  };

  const input = d.cmd === 'vote' ? votes : idxs;
  const voters = new JointConfig(c, cj).ids();
  if (voters.size !== input.length) {
    // Mirrors the shape of etcd's message (Go map and slice formatting).
    return `error: mismatched input (explicit or _) for voters map[${[...voters].map((v) => `${v}:{}`).join(' ')}]: [${input.join(' ')}]`;
  }

  let out = '';
  switch (d.cmd) {
    case 'committed': {
      const m = lookup(idxs);
      const l = mapAckIndexer(m);
      if (!joint) {
        const idx = c.committedIndex(l);
        out += c.describe(l);
        const alt = alternativeMajorityCommittedIndex(c, l);
        if (alt !== idx) out += `${indexString(alt)} <-- via alternative computation\n`;
        const zj = new JointConfig(c, new MajorityConfig()).committedIndex(l);
        if (zj !== idx) out += `${indexString(zj)} <-- via zero-joint quorum\n`;
        const sj = new JointConfig(c, c).committedIndex(l);
        if (sj !== idx) out += `${indexString(sj)} <-- via self-joint quorum\n`;
        // Lowering the index of a voter that is already below the committed index must not
        // change the result.
        const overlay = (id: bigint, v: bigint): AckedIndexer => {
          const ll = new Map<bigint, bigint>();
          for (const iid of c) {
            const cur = m.get(iid);
            if (iid === id) ll.set(iid, v);
            else if (cur !== undefined) ll.set(iid, cur);
          }
          return mapAckIndexer(ll);
        };
        for (const id of c) {
          const iidx = m.get(id) ?? 0n;
          if (idx > iidx && iidx > 0n) {
            let a = c.committedIndex(overlay(id, iidx - 1n));
            if (a !== idx) out += `${indexString(a)} <-- overlaying ${id}->${iidx}`;
            a = c.committedIndex(overlay(id, 0n));
            if (a !== idx) out += `${indexString(a)} <-- overlaying ${id}->0`;
          }
        }
        out += `${indexString(idx)}\n`;
      } else {
        const cc = new JointConfig(c, cj);
        out += cc.describe(l);
        const idx = cc.committedIndex(l);
        const sym = new JointConfig(cj, c).committedIndex(l);
        if (sym !== idx) out += `${indexString(sym)} <-- via symmetry\n`;
        out += `${indexString(idx)}\n`;
      }
      break;
    }
    case 'vote': {
      const l = new Map<bigint, boolean>();
      for (const [id, v] of lookup(votes)) l.set(id, v !== 1n);
      if (!joint) {
        out += `${voteResultString(c.voteResult(l))}\n`;
      } else {
        const r = new JointConfig(c, cj).voteResult(l);
        const ar = new JointConfig(cj, c).voteResult(l);
        if (ar !== r) out += `${voteResultString(ar)} <-- via symmetry\n`;
        out += `${voteResultString(r)}\n`;
      }
      break;
    }
    default:
      throw new Error(`unknown command: ${d.cmd}`);
  }
  return out;
}

describe('quorum data-driven (etcd testdata)', () => {
  for (const file of testdataFiles(dir)) {
    it(file.slice(dir.length + 1), () => runDataDrivenFile(file, handle));
  }
});
