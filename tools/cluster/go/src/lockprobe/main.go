// lockprobe: holds a lock with etcd's own Go client (clientv3/concurrency 3.4: Session + Mutex)
// over every endpoint given, for tools/cluster/src/go_lock.test.ts, on kvd and etcd alike. It
// reads commands from stdin, one per line, and prints one JSON object per line on stdout:
//
//	(at start)   {"ev":"ready"} once the client is up
//	lock NAME    session of --ttl seconds, Mutex NAME locked → {"ev":"locked","key","lease"} or {"ev":"locked","err"};
//	             later {"ev":"session-done"} if the session's keep-alive ever stops
//	check MS     a txn guarded by the mutex's IsOwner(), MS-millisecond timeout →
//	             {"ev":"check","ok":owner,"err","done":whether the session has ended}
//	unlock MS    {"ev":"unlocked","err"}
//	quit         exit 0
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
	"go.etcd.io/etcd/clientv3/concurrency"
	"google.golang.org/grpc/grpclog"
)

var out = json.NewEncoder(os.Stdout)
var outMu sync.Mutex

func emit(m map[string]interface{}) {
	outMu.Lock()
	defer outMu.Unlock()
	_ = out.Encode(m)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func main() {
	endpoints := flag.String("endpoints", "", "comma-separated host:port of every member")
	ttl := flag.Int("ttl", 5, "session TTL in seconds")
	flag.Parse()
	if *endpoints == "" {
		fmt.Fprintln(os.Stderr, "usage: lockprobe --endpoints h:p,h:p [--ttl s]")
		os.Exit(2)
	}
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(ioutil.Discard, ioutil.Discard, os.Stderr))
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(*endpoints, ","), DialTimeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	defer cli.Close()
	emit(map[string]interface{}{"ev": "ready"})

	var session *concurrency.Session
	var mutex *concurrency.Mutex
	sessionDone := func() bool {
		if session == nil {
			return false
		}
		select {
		case <-session.Done():
			return true
		default:
			return false
		}
	}

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "lock" && len(f) == 2 && session == nil:
			s, err := concurrency.NewSession(cli, concurrency.WithTTL(*ttl))
			if err != nil {
				emit(map[string]interface{}{"ev": "locked", "err": errText(err)})
				continue
			}
			m := concurrency.NewMutex(s, f[1])
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err = m.Lock(ctx)
			cancel()
			if err != nil {
				emit(map[string]interface{}{"ev": "locked", "err": errText(err)})
				continue
			}
			session, mutex = s, m
			emit(map[string]interface{}{"ev": "locked", "key": m.Key(), "lease": strconv.FormatInt(int64(s.Lease()), 10)})
			go func() {
				<-s.Done()
				emit(map[string]interface{}{"ev": "session-done"})
			}()
		case f[0] == "check" && len(f) == 2 && mutex != nil:
			ms, _ := strconv.Atoi(f[1])
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(ms)*time.Millisecond)
			r, err := cli.Txn(ctx).If(mutex.IsOwner()).Then(clientv3.OpPut("lockprobe-output", "owner")).Commit()
			cancel()
			emit(map[string]interface{}{"ev": "check", "ok": err == nil && r.Succeeded, "err": errText(err), "done": sessionDone()})
		case f[0] == "unlock" && len(f) == 2 && mutex != nil:
			ms, _ := strconv.Atoi(f[1])
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(ms)*time.Millisecond)
			err := mutex.Unlock(ctx)
			cancel()
			emit(map[string]interface{}{"ev": "unlocked", "err": errText(err)})
		case f[0] == "quit":
			return
		default:
			emit(map[string]interface{}{"ev": "usage", "line": in.Text()})
		}
	}
}
