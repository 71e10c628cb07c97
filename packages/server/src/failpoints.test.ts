import { afterEach, describe, expect, it } from 'vitest';
import { clearFailpoints, failpoint, failpointsArmed, initFailpoints, parseFailpoints } from './failpoints.js';

describe('failpoints', () => {
  afterEach(() => clearFailpoints());
  it('parses actions and rejects bad specs with the reason', () => {
    const m = parseFailpoints('raftAfterSave=10%panic, beforeCommit=sleep(25)');
    expect(m.get('raftAfterSave')).toEqual({ kind: 'panic', ms: 0, probability: 0.1 });
    expect(m.get('beforeCommit')).toEqual({ kind: 'sleep', ms: 25, probability: 1 });
    expect(() => parseFailpoints('nosuch=panic')).toThrow(/unknown failpoint "nosuch"/);
    expect(() => parseFailpoints('beforeCommit=explode')).toThrow(/cannot parse/);
    expect(() => parseFailpoints('beforeCommit=0%panic')).toThrow(/probability/);
  });
  it('is off without KVD_TEST_HOOKS, and sleeps when armed', async () => {
    expect(initFailpoints({ KVD_FAILPOINTS: 'beforeCommit=sleep(20)' })).toEqual([]);
    expect(failpoint('beforeCommit')).toBeUndefined();
    expect(failpointsArmed()).toBe(false);
    expect(initFailpoints({ KVD_TEST_HOOKS: '1', KVD_FAILPOINTS: 'beforeCommit=sleep(20)' })).toEqual(['beforeCommit']);
    expect(failpointsArmed()).toBe(true);
    expect(failpoint('raftBeforeSave')).toBeUndefined();
    const p = failpoint('beforeCommit');
    expect(p).toBeInstanceOf(Promise);
    await p;
  });
  it('is disarmed again by clearFailpoints', () => {
    initFailpoints({ KVD_TEST_HOOKS: '1', KVD_FAILPOINTS: 'raftBeforeSave=panic' });
    expect(failpointsArmed()).toBe(true);
    clearFailpoints();
    expect(failpointsArmed()).toBe(false);
    expect(failpoint('raftBeforeSave')).toBeUndefined();
  });
  it('fires an N% action on a seeded share of the calls', () => {
    initFailpoints({ KVD_TEST_HOOKS: '1', KVD_FAILPOINTS: 'raftBeforeApply=30%sleep(1)', KVD_FAILPOINTS_SEED: '7' });
    let fired = 0;
    for (let i = 0; i < 1000; i++) if (failpoint('raftBeforeApply') !== undefined) fired++;
    expect(fired).toBeGreaterThan(200);
    expect(fired).toBeLessThan(400);
  });
});
