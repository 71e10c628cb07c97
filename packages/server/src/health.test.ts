// The health endpoints against a probe whose alarms, leader and reads the test sets.
import { etcdserverpb } from '@kv/api';
import { describe, expect, it } from 'vitest';
import { answerHealth, type HealthProbe } from './health.js';

const { NOSPACE, CORRUPT } = etcdserverpb.AlarmType;

function probe(
  o: { alarms?: etcdserverpb.AlarmType[]; leader?: boolean; published?: boolean; local?: string; quorum?: string | 'hang' } = {},
): HealthProbe & {
  reads: boolean[];
} {
  const reads: boolean[] = [];
  return {
    reads,
    alarms: () => o.alarms ?? [],
    hasLeader: () => o.leader ?? true,
    published: () => o.published ?? true,
    read: async (serializable) => {
      reads.push(serializable);
      const fail = serializable ? o.local : o.quorum;
      if (fail === 'hang') return new Promise<void>(() => undefined);
      if (fail !== undefined) throw new Error(fail);
    },
    timeoutMs: 50,
  };
}

const get = (path: string, p: HealthProbe, query = '') => answerHealth('GET', path, query, p);

describe('/health', () => {
  it('is true with a leader, no alarm and a linearizable read that works', async () => {
    const p = probe();
    expect(await get('/health', p)).toMatchObject({ status: 200, body: '{"health":"true","reason":""}' });
    expect(p.reads).toEqual([false]);
  });

  it('is false with the reason etcd gives: alarm, no leader, a failed or slow read', async () => {
    const body = async (p: HealthProbe, q = '') => {
      const a = await get('/health', p, q);
      expect(a?.status).toBe(503);
      expect(a?.headers['Content-Type']).toBe('text/plain; charset=utf-8');
      return JSON.parse(a!.body) as { health: string; reason: string };
    };
    expect(await body(probe({ alarms: [NOSPACE] }))).toEqual({ health: 'false', reason: 'ALARM NOSPACE' });
    expect(await body(probe({ alarms: [CORRUPT] }))).toEqual({ health: 'false', reason: 'ALARM CORRUPT' });
    expect(await body(probe({ leader: false }))).toEqual({ health: 'false', reason: 'RAFT NO LEADER' });
    // kvd's own: etcd answers nothing before its member has published its name and client URLs.
    expect(await body(probe({ published: false }))).toEqual({ health: 'false', reason: 'NOT PUBLISHED' });
    expect(await body(probe({ published: false }), 'serializable=true')).toEqual({ health: 'false', reason: 'NOT PUBLISHED' });
    expect(await body(probe({ quorum: 'etcdserver: request timed out' }))).toEqual({
      health: 'false',
      reason: 'RANGE ERROR:etcdserver: request timed out',
    });
    expect(await body(probe({ quorum: 'hang' }))).toEqual({ health: 'false', reason: 'RANGE ERROR:context deadline exceeded' });
    // ?exclude= skips the alarm named; another still counts.
    expect(await body(probe({ alarms: [NOSPACE, CORRUPT] }), 'exclude=NOSPACE')).toEqual({ health: 'false', reason: 'ALARM CORRUPT' });
  });

  it('?exclude=NOSPACE and ?serializable=true: a member without a leader but able to read locally is healthy', async () => {
    expect((await get('/health', probe({ alarms: [NOSPACE] }), 'exclude=NOSPACE'))?.status).toBe(200);
    const p = probe({ leader: false, quorum: 'hang' });
    expect((await get('/health', p, 'serializable=true'))?.status).toBe(200);
    expect(p.reads).toEqual([true]);
  });
});

describe('/livez and /readyz', () => {
  it('answer ok, and list the checks with ?verbose', async () => {
    expect(await get('/livez', probe())).toMatchObject({ status: 200, body: 'ok\n' });
    expect((await get('/livez', probe(), 'verbose'))?.body).toBe('[+]serializable_read ok\nok\n');
    expect((await get('/readyz', probe(), 'verbose'))?.body).toBe(
      '[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\nok\n',
    );
  });

  it('fail with every check listed and 503', async () => {
    const a = await get('/readyz', probe({ alarms: [CORRUPT], quorum: 'hang' }));
    expect(a?.status).toBe(503);
    expect(a?.body).toBe(
      '[-]data_corruption failed: alarm activated: CORRUPT\n[+]serializable_read ok\n[-]linearizable_read failed: context deadline exceeded\n\n',
    );
    // livez does not need a quorum: a cut-off member is alive.
    expect((await get('/livez', probe({ leader: false, quorum: 'hang' })))?.status).toBe(200);
    expect((await get('/livez', probe({ local: 'backend closed' })))?.body).toBe('[-]serializable_read failed: backend closed\n\n');
  });

  it('?exclude=<check> skips it (an unknown name is ignored); /readyz/<check> runs one; unknown checks are 404', async () => {
    const p = probe({ quorum: 'hang' });
    expect((await get('/readyz', p, 'exclude=linearizable_read&exclude=nosuch'))?.status).toBe(200);
    expect(p.reads).toEqual([true]);
    expect((await get('/readyz/serializable_read', probe({ quorum: 'hang' }), 'verbose'))?.body).toBe('[+]serializable_read ok\nok\n');
    expect((await get('/readyz/linearizable_read', probe({ quorum: 'hang' })))?.status).toBe(503);
    expect(await get('/readyz/nosuch', probe())).toBeUndefined();
    expect(await get('/health/x', probe())).toBeUndefined();
    expect(await get('/healthz', probe())).toBeUndefined();
  });
});

it('refuses other methods with 405 and Allow: GET', async () => {
  for (const path of ['/health', '/livez', '/readyz/data_corruption']) {
    const a = await answerHealth('POST', path, '', probe());
    expect(a).toMatchObject({ status: 405, body: 'Method Not Allowed\n', headers: { Allow: 'GET' } });
  }
});
