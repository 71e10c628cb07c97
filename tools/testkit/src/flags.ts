// The command line of one etcd-style member: etcd's clustering flags, which kvd takes too. Every
// launcher builds a member's flags here (startServer, @kv/cluster-launcher, tests that add a member).

export interface MemberFlags {
  name: string;
  dataDir: string;
  /** "http://127.0.0.1:PORT": listened on and advertised. */
  clientUrl: string;
  /** "http://127.0.0.1:PORT": listened on and advertised. */
  peerUrl: string;
  /** --initial-cluster (default: this member alone, `${name}=${peerUrl}`). */
  initialCluster?: string;
  /** --initial-cluster-state (default: not given, which is etcd's "new"). */
  initialClusterState?: 'new' | 'existing';
  /** --initial-cluster-token (default: not given). */
  token?: string;
}

/** The flags that make `m` a member: name, data dir, client and peer URLs, initial cluster. */
export function memberArgs(m: MemberFlags): string[] {
  return [
    '--name',
    m.name,
    '--data-dir',
    m.dataDir,
    '--listen-client-urls',
    m.clientUrl,
    '--advertise-client-urls',
    m.clientUrl,
    '--listen-peer-urls',
    m.peerUrl,
    '--initial-advertise-peer-urls',
    m.peerUrl,
    '--initial-cluster',
    m.initialCluster ?? `${m.name}=${m.peerUrl}`,
    ...(m.initialClusterState === undefined ? [] : ['--initial-cluster-state', m.initialClusterState]),
    ...(m.token === undefined ? [] : ['--initial-cluster-token', m.token]),
  ];
}
