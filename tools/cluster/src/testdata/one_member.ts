// A one-member cluster of etcd or kvd on fresh loopback ports, on a given data dir (restored, or
// empty for a new cluster): the backup tests start one of each side of a round trip this way.
import { freePorts, memberArgs } from '@kv/testkit';
import { serverBinary, type ServerKind } from '../binaries.js';
import { MemberProcess } from '../member.js';

export interface OneMember {
  name: string;
  /** host:port of the client URL. */
  client: string;
  /** The peer URL. */
  peer: string;
  token: string;
}

export async function oneMemberLayout(name: string, token: string): Promise<OneMember> {
  const [c, p] = await freePorts(2);
  return { name, token, client: `127.0.0.1:${c}`, peer: `http://127.0.0.1:${p}` };
}

/** The flags `snapshot restore` takes to make `dir` the data dir of this member (etcdctl's and kvctl's). */
export const restoreFlags = (l: OneMember, dir: string): string[] => [
  `--name=${l.name}`,
  `--data-dir=${dir}`,
  `--initial-cluster=${l.name}=${l.peer}`,
  `--initial-cluster-token=${l.token}`,
  `--initial-advertise-peer-urls=${l.peer}`,
];

/** Starts the member on `dir` and waits until it is healthy; `running` gets it (the caller stops it by PID). */
export async function startOneMember(
  kind: ServerKind,
  l: OneMember,
  dir: string,
  running: MemberProcess[],
  extraArgs: string[] = [],
): Promise<MemberProcess> {
  const m = new MemberProcess({
    name: l.name,
    clientPort: Number(l.client.split(':')[1]),
    peerPort: Number(new URL(l.peer).port),
    dataDir: dir,
    logFile: `${dir}.log`,
    bin: serverBinary(kind),
    stopTimeoutMs: 10_000,
    readyTimeoutMs: 60_000,
    args: [
      ...memberArgs({
        name: l.name,
        dataDir: dir,
        clientUrl: `http://${l.client}`,
        peerUrl: l.peer,
        initialCluster: `${l.name}=${l.peer}`,
        initialClusterState: 'new',
        token: l.token,
      }),
      ...extraArgs,
    ],
  });
  running.push(m);
  m.start();
  try {
    await m.waitHealthy(60_000);
  } catch (e) {
    throw new Error(`${kind} did not become healthy: ${(e as Error).message}\n${m.logTail(20)}`);
  }
  return m;
}
