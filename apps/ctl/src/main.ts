// kvctl: etcdctl-compatible command-line client for kv and etcd (commands live in @kv/ctl).
import { main as ctlMain } from '@kv/ctl';

export function main(argv: string[]): Promise<void> {
  return ctlMain(argv);
}
