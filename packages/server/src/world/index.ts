// The world a member is given: time, randomness, its data dir and its peer network. kvd passes
// the real ones (realClock, realRandom, dataDirDisk, TcpNetwork); the whole-cluster simulation
// passes a virtual clock, a seeded generator, a simulated disk and an in-process network.
import type { RemoteCluster } from '../cluster/join.js';
import type { Clock, Random } from './clock.js';
import type { MemberDisk } from './disk.js';
import type { NetworkFactory } from './network.js';

/**
 * How a member joining a running cluster (--initial-cluster-state existing) learns the cluster's
 * id and members from the peers named in --initial-cluster (kvd: GET /members, cluster/join.ts).
 */
export type ClusterFetcher = (peerUrls: string[], timeoutMs: number) => Promise<RemoteCluster>;

export interface MemberWorld {
  clock: Clock;
  random: Random;
  disk: MemberDisk;
  network: NetworkFactory;
  /** Needed only to join a running cluster; a world without it can bootstrap and restart only. */
  fetchCluster?: ClusterFetcher;
}

export { realClock, realRandom, sleep } from './clock.js';
export type { Clock, Random, Timer } from './clock.js';
export { dataDirDisk } from './disk.js';
export type { DiskLock, MemberDisk, ReceivedSnapshot } from './disk.js';
export type { NetworkFactory, PeerAddress, PeerHandler, PeerNetwork } from './network.js';
export { TcpNetwork } from './tcp_network.js';
export type { TcpNetworkOptions } from './tcp_network.js';
