// Runs etcd's confchange testdata: `simple`, `enter-joint [autoleave=true]` and `leave-joint`
// against one Changer per file, whose lastIndex grows by one with every command. Output is the
// resulting config and progress, or the error.

import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';
import { argBool, runDataDrivenFile, testdataFiles, type TestData } from '../testing/datadriven.js';
import { progressMapString } from '../tracker/progress.js';
import { ProgressTracker } from '../tracker/tracker.js';
import { Changer, type ConfigAndProgress } from './confchange.js';
import { confChangesFromString } from './strings.js';

const dir = fileURLToPath(new URL('./testdata', import.meta.url));

function runFile(file: string): void {
  const tracker = new ProgressTracker(10);
  const c = new Changer(tracker, 0n);
  runDataDrivenFile(file, (d: TestData) => {
    try {
      let ccs;
      try {
        ccs = confChangesFromString(d.input);
      } catch (e) {
        return (e as Error).message;
      }
      let r: ConfigAndProgress;
      try {
        switch (d.cmd) {
          case 'simple':
            r = c.simple(...ccs);
            break;
          case 'enter-joint':
            r = c.enterJoint(d.cmdArgs.length > 0 ? argBool(d, 'autoleave') : false, ...ccs);
            break;
          case 'leave-joint':
            if (ccs.length > 0) return 'this command takes no input\n';
            r = c.leaveJoint();
            break;
          default:
            return 'unknown command';
        }
      } catch (e) {
        return `${(e as Error).message}\n`;
      }
      tracker.config = r.config;
      tracker.progress = r.progress;
      return `${tracker.config.toString()}\n${progressMapString(tracker.progress)}`;
    } finally {
      c.lastIndex++;
    }
  });
}

describe('confchange data-driven (etcd testdata)', () => {
  for (const file of testdataFiles(dir)) {
    it(file.slice(dir.length + 1), () => runFile(file));
  }
});
