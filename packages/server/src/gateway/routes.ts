// The JSON gateway's path → gRPC method table: etcd 3.4's grpc-gateway patterns
// (etcdserverpb/gw/rpc.pb.gw.go, v3lockpb/gw, v3electionpb/gw). Every route is POST.
import { etcdserverpb, v3electionpb, v3lockpb } from '@kv/api';

/** The services the gateway reaches, by the key their implementations are passed under. */
export const gatewayServices = {
  kv: etcdserverpb.KVService,
  watch: etcdserverpb.WatchService,
  lease: etcdserverpb.LeaseService,
  cluster: etcdserverpb.ClusterService,
  maintenance: etcdserverpb.MaintenanceService,
  auth: etcdserverpb.AuthService,
  lock: v3lockpb.LockService,
  election: v3electionpb.ElectionService,
} as const;
export type GatewayServiceName = keyof typeof gatewayServices;

export interface Route {
  service: GatewayServiceName;
  /** The method's key in the service definition and in its implementation. */
  method: string;
  /** Server-streaming or bidi methods (watch, keepalive, observe): not served as unary. */
  stream: boolean;
}

const table: Record<string, [GatewayServiceName, string]> = {
  '/v3/kv/range': ['kv', 'range'],
  '/v3/kv/put': ['kv', 'put'],
  '/v3/kv/deleterange': ['kv', 'deleteRange'],
  '/v3/kv/txn': ['kv', 'txn'],
  '/v3/kv/compaction': ['kv', 'compact'],
  '/v3/watch': ['watch', 'watch'],
  '/v3/lease/grant': ['lease', 'leaseGrant'],
  '/v3/lease/revoke': ['lease', 'leaseRevoke'],
  '/v3/kv/lease/revoke': ['lease', 'leaseRevoke'],
  '/v3/lease/keepalive': ['lease', 'leaseKeepAlive'],
  '/v3/lease/timetolive': ['lease', 'leaseTimeToLive'],
  '/v3/kv/lease/timetolive': ['lease', 'leaseTimeToLive'],
  '/v3/lease/leases': ['lease', 'leaseLeases'],
  '/v3/kv/lease/leases': ['lease', 'leaseLeases'],
  '/v3/cluster/member/add': ['cluster', 'memberAdd'],
  '/v3/cluster/member/remove': ['cluster', 'memberRemove'],
  '/v3/cluster/member/update': ['cluster', 'memberUpdate'],
  '/v3/cluster/member/list': ['cluster', 'memberList'],
  '/v3/cluster/member/promote': ['cluster', 'memberPromote'],
  '/v3/maintenance/alarm': ['maintenance', 'alarm'],
  '/v3/maintenance/status': ['maintenance', 'status'],
  '/v3/maintenance/defragment': ['maintenance', 'defragment'],
  // Hash and HashKV share one pattern in etcd 3.4; grpc-gateway v1's mux prepends each
  // registration, so the later one, HashKV, answers it.
  '/v3/maintenance/hash': ['maintenance', 'hashKv'],
  '/v3/maintenance/snapshot': ['maintenance', 'snapshot'],
  '/v3/maintenance/transfer-leadership': ['maintenance', 'moveLeader'],
  '/v3/auth/enable': ['auth', 'authEnable'],
  '/v3/auth/disable': ['auth', 'authDisable'],
  '/v3/auth/authenticate': ['auth', 'authenticate'],
  '/v3/auth/user/add': ['auth', 'userAdd'],
  '/v3/auth/user/get': ['auth', 'userGet'],
  '/v3/auth/user/list': ['auth', 'userList'],
  '/v3/auth/user/delete': ['auth', 'userDelete'],
  '/v3/auth/user/changepw': ['auth', 'userChangePassword'],
  '/v3/auth/user/grant': ['auth', 'userGrantRole'],
  '/v3/auth/user/revoke': ['auth', 'userRevokeRole'],
  '/v3/auth/role/add': ['auth', 'roleAdd'],
  '/v3/auth/role/get': ['auth', 'roleGet'],
  '/v3/auth/role/list': ['auth', 'roleList'],
  '/v3/auth/role/delete': ['auth', 'roleDelete'],
  '/v3/auth/role/grant': ['auth', 'roleGrantPermission'],
  '/v3/auth/role/revoke': ['auth', 'roleRevokePermission'],
  '/v3/lock/lock': ['lock', 'lock'],
  '/v3/lock/unlock': ['lock', 'unlock'],
  '/v3/election/campaign': ['election', 'campaign'],
  '/v3/election/proclaim': ['election', 'proclaim'],
  '/v3/election/leader': ['election', 'leader'],
  '/v3/election/observe': ['election', 'observe'],
  '/v3/election/resign': ['election', 'resign'],
};

/** Whether a path is the gateway's: under /v3/ or /v3beta/ (etcd rewrites /v3beta/ to /v3/). */
export function isGatewayPath(path: string): boolean {
  return path.startsWith('/v3/') || path.startsWith('/v3beta/');
}

/** The route of a request path, /v3beta/ read as /v3/; undefined for an unknown path. */
export function routeOf(path: string): Route | undefined {
  const p = path.startsWith('/v3beta/') ? '/v3/' + path.slice('/v3beta/'.length) : path;
  const r = Object.hasOwn(table, p) ? table[p] : undefined;
  if (!r) return undefined;
  const def = (gatewayServices[r[0]] as unknown as Record<string, { requestStream: boolean; responseStream: boolean }>)[r[1]]!;
  return { service: r[0], method: r[1], stream: def.requestStream || def.responseStream };
}
