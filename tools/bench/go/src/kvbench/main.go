// kvbench: a load generator on etcd's own Go client (clientv3 3.4), for kvd and etcd alike.
//
// It mirrors the workloads of etcd's `benchmark` tool (put, range, txn-put, watch latency,
// lease keep-alive) plus txn-cas, Kubernetes' optimistic update (get a key, then a txn that
// puts a new value if the key's mod_revision is still the one read). Every clientv3.Client is
// given ALL the endpoints, so its balancer spreads requests over every member, as Kubernetes and
// most Go services use etcd. --clients workers share --conns clients (worker i uses conn i mod
// conns, as etcd's benchmark does).
//
// Output: one JSON object on stdout (see result). Errors are counted, never fatal; the exit code
// is 0 when no request failed, 1 when some did (the JSON is still printed), 2 on a usage error.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
	"golang.org/x/time/rate"
	"google.golang.org/grpc/grpclog"
)

var workloads = []string{"put", "range", "txn-put", "txn-cas", "watch", "lease-keepalive", "defrag"}

type config struct {
	workload       string
	endpoints      []string
	clients        int
	conns          int
	total          int
	duration       time.Duration
	rate           float64
	warmup         int
	keySize        int
	valSize        int
	keySpace       int
	sequential     bool
	consistency    string
	rangeAll       bool
	keysOnly       bool
	noPrefill      bool
	txnOps         int
	watchers       int
	streams        int
	leaseTTL       int64
	requestTimeout time.Duration
	dialTimeout    time.Duration
	seed           int64
	user           string
	password       string
	// defrag (defrag.go)
	keepEvery     int
	before, after time.Duration
	defragTimeout time.Duration
}

// result is the JSON printed on stdout. Latency (the embedded summary) is per request; for
// watch it is per delivered event (put sent → event received) and throughput is events/s.
// runInfo opens every JSON result kvbench prints (its fields are inlined by encoding/json).
type runInfo struct {
	Driver     string   `json:"driver"`
	Workload   string   `json:"workload"`
	Endpoints  []string `json:"endpoints"`
	Clients    int      `json:"clients"`
	Conns      int      `json:"conns"`
	Ops        int64    `json:"ops"`
	Errors     int64    `json:"errors"`
	FirstError string   `json:"firstError,omitempty"`
	Aborted    string   `json:"aborted,omitempty"`
}

type result struct {
	runInfo
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"throughput"`
	Unit       string  `json:"unit"`
	summary
	// range
	Consistency string `json:"consistency,omitempty"`
	// txn-cas: attempts whose compare failed (another worker updated the key in between).
	Conflicts *int64 `json:"conflicts,omitempty"`
	// txn-cas: successful updates per second.
	UpdatesPerSec *float64 `json:"updatesPerSec,omitempty"`
	// watch
	Watchers       int      `json:"watchers,omitempty"`
	Events         *int64   `json:"events,omitempty"`
	ExpectedEvents *int64   `json:"expectedEvents,omitempty"`
	Puts           *int64   `json:"puts,omitempty"`
	PutsPerSec     *float64 `json:"putsPerSec,omitempty"`
	PutLatency     *summary `json:"putLatency,omitempty"`
}

// maxErrors: a run stops early after this many failures once they outnumber successes.
const maxErrors = 100

// prefillBatch: puts per txn when filling the key space (below etcd's --max-txn-ops of 128).
const prefillBatch = 100

const usage = `usage: kvbench <put|range|txn-put|txn-cas|watch|lease-keepalive|defrag> --endpoints H:P[,H:P...] [flags]

All endpoints go to every clientv3.Client, whose balancer spreads requests over them.
Prints one JSON object on stdout. Flags:
`

func parseArgs(args []string, stderr io.Writer) (*config, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprint(stderr, usage)
			return nil, flag.ErrHelp
		}
		return nil, fmt.Errorf("the first argument must be a workload (%s)", strings.Join(workloads, "|"))
	}
	c := &config{workload: args[0]}
	known := false
	for _, w := range workloads {
		known = known || w == c.workload
	}
	if !known {
		return nil, fmt.Errorf("unknown workload %q (%s)", c.workload, strings.Join(workloads, "|"))
	}
	fs := flag.NewFlagSet("kvbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	endpoints := fs.String("endpoints", "", "comma-separated client endpoints (required), all given to every client")
	fs.IntVar(&c.clients, "clients", 1, "concurrent workers, each with one request in flight")
	fs.IntVar(&c.conns, "conns", 1, "clientv3.Client objects (gRPC connections) shared by the workers")
	fs.IntVar(&c.total, "total", 10000, "measured requests (watch: puts)")
	fs.DurationVar(&c.duration, "duration", 0, "run for this long instead of --total (e.g. 10s)")
	fs.Float64Var(&c.rate, "rate", 0, "requests (watch: puts) per second over all workers, 0 = unlimited")
	fs.IntVar(&c.warmup, "warmup", 0, "unmeasured requests first")
	fs.IntVar(&c.keySize, "key-size", 8, "key size in bytes (a one-letter prefix and a zero-padded index)")
	fs.IntVar(&c.valSize, "val-size", 8, "value size in bytes")
	fs.IntVar(&c.keySpace, "key-space-size", 1, "distinct keys")
	fs.BoolVar(&c.sequential, "sequential-keys", false, "keys in order (request i uses key i mod key space) instead of uniformly random")
	fs.StringVar(&c.consistency, "consistency", "l", "range: l (linearizable) or s (serializable)")
	fs.BoolVar(&c.rangeAll, "range-all", false, "range: each request reads every key under the prefix (a list), not one key")
	fs.BoolVar(&c.keysOnly, "keys-only", false, "range: keys only")
	fs.BoolVar(&c.noPrefill, "no-prefill", false, "range, txn-cas: the keys are there already (do not write the key space first)")
	fs.IntVar(&c.txnOps, "txn-ops", 1, "txn-put: puts per txn (distinct keys)")
	fs.IntVar(&c.watchers, "watchers", 100, "watch: watchers on the key prefix")
	fs.IntVar(&c.streams, "streams", 1, "watch: watch streams (clientv3.Watcher objects) the watchers are spread over, themselves spread over the conns")
	fs.Int64Var(&c.leaseTTL, "lease-ttl", 100, "lease-keepalive: TTL (s) of each worker's lease")
	fs.DurationVar(&c.requestTimeout, "request-timeout", 30*time.Second, "deadline of each request")
	fs.DurationVar(&c.dialTimeout, "dial-timeout", 5*time.Second, "deadline of connecting")
	fs.Int64Var(&c.seed, "seed", 1, "seed of the random key choice")
	fs.IntVar(&c.keepEvery, "keep-every", 10, "defrag: every n-th key is kept (overwritten), the others deleted")
	fs.DurationVar(&c.before, "before", 2*time.Second, "defrag: reads before the Defragment")
	fs.DurationVar(&c.after, "after", 2*time.Second, "defrag: reads after it")
	fs.DurationVar(&c.defragTimeout, "defrag-timeout", 10*time.Minute, "defrag: deadline of the compaction, Defragment, Status and the check")
	user := fs.String("user", "", "name:password to authenticate as (auth enabled on the server)")
	if err := fs.Parse(args[1:]); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *user != "" {
		i := strings.IndexByte(*user, ':')
		if i < 0 {
			return nil, fmt.Errorf("--user must be name:password, got %q", *user)
		}
		c.user, c.password = (*user)[:i], (*user)[i+1:]
	}
	for _, e := range strings.Split(*endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			c.endpoints = append(c.endpoints, e)
		}
	}
	positive := map[string]int{"clients": c.clients, "conns": c.conns, "total": c.total, "key-size": c.keySize,
		"val-size": c.valSize, "key-space-size": c.keySpace, "txn-ops": c.txnOps, "watchers": c.watchers, "streams": c.streams,
		"keep-every": c.keepEvery}
	for name, v := range positive {
		if v < 1 {
			return nil, fmt.Errorf("--%s must be >= 1, got %d", name, v)
		}
	}
	switch {
	case len(c.endpoints) == 0:
		return nil, errors.New("--endpoints is required")
	case c.conns > c.clients:
		return nil, fmt.Errorf("--conns (%d) cannot exceed --clients (%d)", c.conns, c.clients)
	case c.rate < 0 || c.warmup < 0 || c.duration < 0 || c.leaseTTL < 1:
		return nil, errors.New("--rate, --warmup and --duration cannot be negative; --lease-ttl must be >= 1")
	case c.consistency != "l" && c.consistency != "s":
		return nil, fmt.Errorf("--consistency must be l or s, got %q", c.consistency)
	case c.txnOps > c.keySpace:
		return nil, fmt.Errorf("--txn-ops (%d) cannot exceed --key-space-size (%d): keys in one txn must differ", c.txnOps, c.keySpace)
	case c.workload == "watch" && c.valSize < 8:
		return nil, errors.New("watch: --val-size must be >= 8 (the value carries the send time)")
	}
	if need := len(strconv.Itoa(c.keySpace-1)) + 1; c.keySize < need {
		return nil, fmt.Errorf("--key-size %d is too small for --key-space-size %d (needs >= %d)", c.keySize, c.keySpace, need)
	}
	return c, nil
}

// makeKey: prefix then the zero-padded index, size bytes in all (the @kv/client driver's keys).
// Invariant: distinct indexes give distinct keys (parseArgs checked the size holds every index).
func makeKey(prefix string, index, size int) string {
	return prefix + fmt.Sprintf("%0*d", size-len(prefix), index)
}

func makeValue(size int) []byte {
	v := make([]byte, size)
	for i := range v {
		v[i] = byte('a' + i%26)
	}
	return v
}

// keyChooser gives worker w's next key index: sequential over the request number, or seeded
// uniform random (one source per worker, so runs repeat and workers do not contend).
type keyChooser struct {
	c    *config
	rnds []*rand.Rand
}

func newKeyChooser(c *config) *keyChooser {
	k := &keyChooser{c: c, rnds: make([]*rand.Rand, c.clients)}
	for w := range k.rnds {
		k.rnds[w] = rand.New(rand.NewSource(c.seed*7919 + int64(w)))
	}
	return k
}

func (k *keyChooser) index(w, i int) int {
	if k.c.sequential {
		return i % k.c.keySpace
	}
	return k.rnds[w].Intn(k.c.keySpace)
}

// op is one request of worker w, the i-th claimed in its loop.
type op func(ctx context.Context, w, i int) error

type loopStats struct {
	ok, errors int64
	firstError string
	aborted    string
	elapsed    time.Duration
}

// runLoop runs c.clients workers issuing op until n requests were claimed (or, with dur > 0, until
// it has passed), paced by limiter when set; successful latencies go to rec when set.
func runLoop(c *config, n int, dur time.Duration, limiter *rate.Limiter, f op, rec *samples) loopStats {
	var (
		st       loopStats
		claimed  int64 = -1
		ok, errs int64
		abort    atomic.Value
		errMu    sync.Mutex
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(dur)
	claim := func() int {
		if abort.Load() != nil {
			return -1
		}
		if dur > 0 {
			if !time.Now().Before(deadline) {
				return -1
			}
			return int(atomic.AddInt64(&claimed, 1))
		}
		if i := atomic.AddInt64(&claimed, 1); i < int64(n) {
			return int(i)
		}
		return -1
	}
	for w := 0; w < c.clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var mine []int64
			for i := claim(); i >= 0; i = claim() {
				if limiter != nil {
					_ = limiter.Wait(context.Background())
				}
				ctx, cancel := context.WithTimeout(context.Background(), c.requestTimeout)
				t0 := time.Now()
				err := f(ctx, w, i)
				d := time.Since(t0)
				cancel()
				if err == nil {
					atomic.AddInt64(&ok, 1)
					if rec != nil {
						mine = append(mine, int64(d))
					}
					continue
				}
				e := atomic.AddInt64(&errs, 1)
				errMu.Lock()
				if st.firstError == "" {
					st.firstError = err.Error()
				}
				if e >= maxErrors && e > atomic.LoadInt64(&ok) && abort.Load() == nil {
					abort.Store(fmt.Sprintf("%d errors; first: %s", e, st.firstError))
				}
				errMu.Unlock()
			}
			if rec != nil {
				rec.addAll(mine)
			}
		}(w)
	}
	wg.Wait()
	st.elapsed = time.Since(start)
	st.ok, st.errors = ok, errs
	if a := abort.Load(); a != nil {
		st.aborted = a.(string)
	}
	return st
}

func connect(c *config) ([]*clientv3.Client, error) {
	conns := make([]*clientv3.Client, 0, c.conns)
	for i := 0; i < c.conns; i++ {
		cl, err := clientv3.New(clientv3.Config{Endpoints: c.endpoints, DialTimeout: c.dialTimeout, Username: c.user, Password: c.password})
		if err != nil {
			for _, o := range conns {
				o.Close()
			}
			return nil, fmt.Errorf("connecting to %s: %w", strings.Join(c.endpoints, ","), err)
		}
		conns = append(conns, cl)
	}
	return conns, nil
}

// prefill writes every key of the key space once, so reads and updates find a value.
func prefill(c *config, cl *clientv3.Client, prefix string, value string) error {
	for start := 0; start < c.keySpace; start += prefillBatch {
		var ops []clientv3.Op
		for i := start; i < start+prefillBatch && i < c.keySpace; i++ {
			ops = append(ops, clientv3.OpPut(makeKey(prefix, i, c.keySize), value))
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.requestTimeout)
		_, err := cl.Txn(ctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			return fmt.Errorf("prefill: %w", err)
		}
	}
	return nil
}

func newResult(c *config) *result {
	return &result{runInfo: c.runInfo(), Unit: "req/s"}
}

func (r *result) fill(st loopStats, rec *samples) {
	r.Ops, r.Errors, r.FirstError, r.Aborted = st.ok, st.errors, st.firstError, st.aborted
	r.Seconds = st.elapsed.Seconds()
	if r.Seconds > 0 {
		r.Throughput = float64(st.ok) / r.Seconds
	}
	r.summary = rec.summary()
}

func limiterFor(c *config) *rate.Limiter {
	if c.rate <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(c.rate), 1)
}

// runRequests: every workload but watch. Warm-up requests are run the same way, unmeasured.
func runRequests(c *config, conns []*clientv3.Client) (*result, error) {
	r := newResult(c)
	value := string(makeValue(c.valSize))
	keys := newKeyChooser(c)
	conn := func(w int) *clientv3.Client { return conns[w%len(conns)] }
	var f op
	var conflicts int64
	switch c.workload {
	case "put":
		f = func(ctx context.Context, w, i int) error {
			_, err := conn(w).Put(ctx, makeKey("k", keys.index(w, i), c.keySize), value)
			return err
		}
	case "range":
		r.Consistency = c.consistency
		var opts []clientv3.OpOption
		if c.consistency == "s" {
			opts = append(opts, clientv3.WithSerializable())
		}
		if c.keysOnly {
			opts = append(opts, clientv3.WithKeysOnly())
		}
		if !c.noPrefill {
			if err := prefill(c, conns[0], "k", value); err != nil {
				return nil, err
			}
		}
		if c.rangeAll {
			opts = append(opts, clientv3.WithPrefix())
			f = func(ctx context.Context, w, i int) error {
				resp, err := conn(w).Get(ctx, "k", opts...)
				if err == nil && len(resp.Kvs) != c.keySpace {
					err = fmt.Errorf("range-all: %d keys, expected %d (--key-space-size)", len(resp.Kvs), c.keySpace)
				}
				return err
			}
			break
		}
		f = func(ctx context.Context, w, i int) error {
			_, err := conn(w).Get(ctx, makeKey("k", keys.index(w, i), c.keySize), opts...)
			return err
		}
	case "txn-put":
		// txnOps consecutive keys (mod the key space) from the chosen one: distinct within a txn.
		f = func(ctx context.Context, w, i int) error {
			first := keys.index(w, i)
			ops := make([]clientv3.Op, c.txnOps)
			for j := range ops {
				ops[j] = clientv3.OpPut(makeKey("k", (first+j)%c.keySpace, c.keySize), value)
			}
			_, err := conn(w).Txn(ctx).Then(ops...).Commit()
			return err
		}
	case "txn-cas":
		if !c.noPrefill {
			if err := prefill(c, conns[0], "k", value); err != nil {
				return nil, err
			}
		}
		// Kubernetes' GuaranteedUpdate: read the object, then write it only if nobody modified it
		// since (compare mod_revision); on a conflict the txn's else branch returns the current one.
		f = func(ctx context.Context, w, i int) error {
			k := makeKey("k", keys.index(w, i), c.keySize)
			g, err := conn(w).Get(ctx, k)
			if err != nil {
				return err
			}
			var rev int64 // 0 = absent, which compare mod_revision = 0 matches
			if len(g.Kvs) > 0 {
				rev = g.Kvs[0].ModRevision
			}
			t, err := conn(w).Txn(ctx).
				If(clientv3.Compare(clientv3.ModRevision(k), "=", rev)).
				Then(clientv3.OpPut(k, value)).
				Else(clientv3.OpGet(k)).
				Commit()
			if err != nil {
				return err
			}
			if !t.Succeeded {
				atomic.AddInt64(&conflicts, 1)
			}
			return nil
		}
	case "lease-keepalive":
		// One lease per worker, granted before measuring (as etcd's benchmark does); each request
		// is one LeaseKeepAlive round trip for it.
		leases := make([]clientv3.LeaseID, c.clients)
		for w := range leases {
			ctx, cancel := context.WithTimeout(context.Background(), c.requestTimeout)
			g, err := conn(w).Grant(ctx, c.leaseTTL)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("lease grant: %w", err)
			}
			leases[w] = g.ID
		}
		defer func() {
			for w, id := range leases {
				ctx, cancel := context.WithTimeout(context.Background(), c.requestTimeout)
				_, _ = conn(w).Revoke(ctx, id)
				cancel()
			}
		}()
		f = func(ctx context.Context, w, i int) error {
			_, err := conn(w).KeepAliveOnce(ctx, leases[w])
			return err
		}
	default:
		return nil, fmt.Errorf("no request loop for workload %q", c.workload)
	}
	if c.warmup > 0 {
		runLoop(c, c.warmup, 0, nil, f, nil)
		atomic.StoreInt64(&conflicts, 0)
	}
	rec := &samples{}
	st := runLoop(c, c.total, c.duration, limiterFor(c), f, rec)
	r.fill(st, rec)
	if c.workload == "txn-cas" {
		n := atomic.LoadInt64(&conflicts)
		u := 0.0
		if r.Seconds > 0 {
			u = float64(st.ok-n) / r.Seconds
		}
		r.Conflicts, r.UpdatesPerSec = &n, &u
	}
	return r, nil
}

// runWatch: c.watchers watchers on the prefix "w" (spread over c.streams watch streams, spread
// over the conns), while the workers put keys under it whose value starts with the send time.
// Each delivered event's latency is receipt − send, so it includes the put's own commit.
func runWatch(c *config, conns []*clientv3.Client) (*result, error) {
	r := newResult(c)
	r.Unit, r.Watchers = "events/s", c.watchers
	base := time.Now()
	// stamp 0 marks warm-up puts, which watchers skip; measured puts carry monotonic ns since base + 1.
	var measuring int32
	stamp := func() uint64 {
		if atomic.LoadInt32(&measuring) == 0 {
			return 0
		}
		return uint64(time.Since(base)) + 1
	}
	streams := make([]clientv3.Watcher, c.streams)
	for s := range streams {
		streams[s] = clientv3.NewWatcher(conns[s%len(conns)])
	}
	defer func() {
		for _, s := range streams {
			s.Close()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		events, lastEvent int64
		watchErrs         int64
		watchErrMu        sync.Mutex
		firstWatchErr     string
		consumers         sync.WaitGroup
	)
	eventLat := &samples{}
	watchFailed := func(err error) {
		atomic.AddInt64(&watchErrs, 1)
		watchErrMu.Lock()
		if firstWatchErr == "" {
			firstWatchErr = err.Error()
		}
		watchErrMu.Unlock()
	}
	for i := 0; i < c.watchers; i++ {
		ch := streams[i%len(streams)].Watch(ctx, "w", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
		select {
		case resp, ok := <-ch:
			if !ok || resp.Err() != nil || !resp.Created {
				return nil, fmt.Errorf("watch %d was not created: %v", i, resp.Err())
			}
		case <-time.After(c.requestTimeout):
			return nil, fmt.Errorf("watch %d was not created within %s", i, c.requestTimeout)
		}
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			var mine []int64
			defer func() { eventLat.addAll(mine) }()
			for resp := range ch {
				now := uint64(time.Since(base))
				if err := resp.Err(); err != nil {
					if ctx.Err() == nil {
						watchFailed(err)
					}
					return
				}
				for _, ev := range resp.Events {
					if ev.Kv == nil || len(ev.Kv.Value) < 8 {
						continue
					}
					sent := binary.BigEndian.Uint64(ev.Kv.Value[:8])
					if sent == 0 {
						continue
					}
					mine = append(mine, int64(now+1-sent))
					atomic.AddInt64(&events, 1)
					atomic.StoreInt64(&lastEvent, int64(now))
				}
			}
		}()
	}
	value := makeValue(c.valSize)
	keys := newKeyChooser(c)
	f := func(rctx context.Context, w, i int) error {
		v := make([]byte, len(value))
		copy(v, value)
		binary.BigEndian.PutUint64(v, stamp())
		_, err := conns[w%len(conns)].Put(rctx, makeKey("w", keys.index(w, i), c.keySize), string(v))
		return err
	}
	if c.warmup > 0 {
		runLoop(c, c.warmup, 0, nil, f, nil)
	}
	atomic.StoreInt32(&measuring, 1)
	start := time.Since(base)
	putLat := &samples{}
	st := runLoop(c, c.total, c.duration, limiterFor(c), f, putLat)
	expected := st.ok * int64(c.watchers)
	// Wait for the stragglers: bounded, and ended early when a watcher has failed.
	for until := time.Now().Add(30 * time.Second); atomic.LoadInt64(&events) < expected && time.Now().Before(until) && atomic.LoadInt64(&watchErrs) == 0; {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	consumers.Wait()
	got := atomic.LoadInt64(&events)
	end := time.Duration(atomic.LoadInt64(&lastEvent))
	if end <= start {
		end = time.Since(base)
	}
	r.Ops = st.ok
	r.Errors = st.errors + watchErrs
	r.FirstError = st.firstError
	if r.FirstError == "" {
		r.FirstError = firstWatchErr
	}
	r.Aborted = st.aborted
	if r.Aborted == "" && got < expected {
		r.Aborted = fmt.Sprintf("%d of %d events not delivered within 30 s", expected-got, expected)
	}
	r.Seconds = (end - start).Seconds()
	if r.Seconds > 0 {
		r.Throughput = float64(got) / r.Seconds
	}
	r.summary = eventLat.summary()
	putSum := putLat.summary()
	pps := 0.0
	if s := st.elapsed.Seconds(); s > 0 {
		pps = float64(st.ok) / s
	}
	r.Events, r.ExpectedEvents, r.Puts, r.PutsPerSec, r.PutLatency = &got, &expected, &st.ok, &pps, &putSum
	return r, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "kvbench: %v\n%s(kvbench -h for the flags)\n", err, usage[:strings.Index(usage, "\n")+1])
		return 2
	}
	// grpc-go's default logger prints every reconnect to stderr; keep warnings and errors only.
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, stderr, stderr))
	var r *result
	conns, err := connect(c)
	if err == nil {
		defer func() {
			for _, cl := range conns {
				cl.Close()
			}
		}()
		if c.workload == "defrag" {
			d, derr := runDefrag(c, conns)
			if derr == nil {
				return printResult(d, d.Errors > 0 || d.Aborted != "", stdout, stderr)
			}
			err = derr
		} else if c.workload == "watch" {
			r, err = runWatch(c, conns)
		} else {
			r, err = runRequests(c, conns)
		}
	}
	if err != nil {
		// Set-up failed (connect, prefill, lease grant, watch creation): still one JSON answer.
		r = newResult(c)
		r.Errors, r.FirstError, r.Aborted = 1, err.Error(), "set-up failed: "+err.Error()
	}
	return printResult(r, r.Errors > 0 || r.Aborted != "", stdout, stderr)
}

// printResult prints the one JSON line; the exit code is 1 when requests failed.
func printResult(r interface{}, failed bool, stdout, stderr io.Writer) int {
	out, jerr := json.Marshal(r)
	if jerr != nil {
		fmt.Fprintf(stderr, "kvbench: encoding the result: %v\n", jerr)
		return 1
	}
	fmt.Fprintln(stdout, string(out))
	if failed {
		return 1
	}
	return 0
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// runInfo is the opening of a result for this configuration (counters and errors still zero).
func (c *config) runInfo() runInfo {
	return runInfo{Driver: "go", Workload: c.workload, Endpoints: c.endpoints, Clients: c.clients, Conns: c.conns}
}
