// rlprobe: drives etcd's own Go client (clientv3 3.4) against one endpoint for the require-leader
// tests (tools/cluster/src/require_leader.test.ts), on kvd and etcd alike. It reads commands from
// stdin, one per line, and prints one JSON object per line on stdout:
//
//	watch NAME RL KEY       open a watch on KEY (RL=1: clientv3.WithRequireLeader) →
//	                        {"ev":"created","name":NAME}, then {"ev":"event","name","key","value"}
//	                        per event and {"ev":"closed","name","err"} when the watch channel closes
//	keepalive NAME RL TTL   grant a lease of TTL seconds and keep it alive → {"ev":"keepalive","name","id"}
//	                        once, then {"ev":"keepalive-closed","name"} when the keep-alive channel closes
//	put RL KEY VALUE MS     put with a MS-millisecond timeout → {"ev":"put","ok","err"}
//	quit                    exit 0
//
// Everything runs with the given --endpoint only, so the client cannot move to another member.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
	"google.golang.org/grpc/grpclog"
)

var out = json.NewEncoder(os.Stdout)
var outMu sync.Mutex

func emit(m map[string]interface{}) {
	outMu.Lock()
	defer outMu.Unlock()
	_ = out.Encode(m)
}

func ctxFor(rl string) context.Context {
	if rl == "1" {
		return clientv3.WithRequireLeader(context.Background())
	}
	return context.Background()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func main() {
	endpoint := flag.String("endpoint", "", "host:port of the one member to talk to")
	flag.Parse()
	if *endpoint == "" {
		fmt.Fprintln(os.Stderr, "usage: rlprobe --endpoint host:port")
		os.Exit(2)
	}
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(ioutil.Discard, ioutil.Discard, os.Stderr))
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{*endpoint}, DialTimeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	defer cli.Close()
	emit(map[string]interface{}{"ev": "ready"})

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "watch" && len(f) == 4:
			name, ctx := f[1], ctxFor(f[2])
			ch := cli.Watch(ctx, f[3], clientv3.WithCreatedNotify())
			go func() {
				var last error
				for resp := range ch {
					if resp.Created {
						emit(map[string]interface{}{"ev": "created", "name": name})
					}
					for _, e := range resp.Events {
						emit(map[string]interface{}{"ev": "event", "name": name, "key": string(e.Kv.Key), "value": string(e.Kv.Value)})
					}
					if resp.Err() != nil {
						last = resp.Err()
					}
				}
				emit(map[string]interface{}{"ev": "closed", "name": name, "err": errText(last)})
			}()
		case f[0] == "keepalive" && len(f) == 4:
			name, ctx := f[1], ctxFor(f[2])
			ttl, _ := strconv.ParseInt(f[3], 10, 64)
			g, err := cli.Grant(context.Background(), ttl)
			if err != nil {
				emit(map[string]interface{}{"ev": "keepalive", "name": name, "err": errText(err)})
				continue
			}
			ch, err := cli.KeepAlive(ctx, g.ID)
			if err != nil {
				emit(map[string]interface{}{"ev": "keepalive", "name": name, "err": errText(err)})
				continue
			}
			emit(map[string]interface{}{"ev": "keepalive", "name": name, "id": strconv.FormatInt(int64(g.ID), 10)})
			go func() {
				for range ch {
				}
				emit(map[string]interface{}{"ev": "keepalive-closed", "name": name})
			}()
		case f[0] == "put" && len(f) == 5:
			ms, _ := strconv.Atoi(f[4])
			ctx, cancel := context.WithTimeout(ctxFor(f[1]), time.Duration(ms)*time.Millisecond)
			_, err := cli.Put(ctx, f[2], f[3])
			cancel()
			emit(map[string]interface{}{"ev": "put", "ok": err == nil, "err": errText(err)})
		case f[0] == "quit":
			return
		default:
			emit(map[string]interface{}{"ev": "usage", "line": in.Text()})
		}
	}
}
