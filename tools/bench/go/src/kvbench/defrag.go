package main

// The defrag workload (`pnpm bench:defrag`): how long a Defragment stalls reads.
//
//  1. fill: --key-space-size keys of --val-size bytes (txns of prefillBatch puts, --clients in flight);
//  2. churn: every --keep-every-th key is overwritten (its second value), every other key deleted,
//     then a physical compaction at the last revision, so the backend has free space to return;
//  3. Status (dbSize, dbSizeInUse) of the first endpoint;
//  4. --clients readers (even workers serializable, odd ones linearizable) read random kept keys
//     and check the value; after --before, Defragment of the first endpoint (timed); --after later
//     the readers stop;
//  5. Status again, then a paged linearizable range over the prefix, checked against what was kept.
//
// Every read is reported (start and latency, relative to one monotonic base) so the caller can cut
// the windows itself. Nothing here is timed against a limit but the request deadlines.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
)

// defragRead is one read: [startMs, latencyMs, linearizable 0|1, ok 0|1] (ok: answered with the
// expected value). An array, not an object, to keep tens of thousands of them small.
type defragRead [4]float64

type defragVerify struct {
	Keys          int    `json:"keys"`
	Expected      int    `json:"expected"`
	Mismatches    int    `json:"mismatches"`
	FirstMismatch string `json:"firstMismatch,omitempty"`
}

type defragResult struct {
	runInfo
	// set-up
	Keys         int     `json:"keys"`
	Kept         int     `json:"kept"`
	ValSize      int     `json:"valSize"`
	FillSeconds  float64 `json:"fillSeconds"`
	ChurnSeconds float64 `json:"churnSeconds"`
	CompactRev   int64   `json:"compactRev"`
	// Status of the defragmented member, before and after.
	DbSizeBefore      int64 `json:"dbSizeBefore"`
	DbSizeInUseBefore int64 `json:"dbSizeInUseBefore"`
	DbSizeAfter       int64 `json:"dbSizeAfter"`
	DbSizeInUseAfter  int64 `json:"dbSizeInUseAfter"`
	// Milliseconds since the base (the readers' start is 0).
	DefragStartMs float64 `json:"defragStartMs"`
	DefragEndMs   float64 `json:"defragEndMs"`
	DefragError   string  `json:"defragError,omitempty"`
	ReadsEndMs    float64 `json:"readsEndMs"`
	// Reads that failed or returned another value than the one kept (Errors counts both).
	ReadErrors  int64        `json:"readErrors"`
	WrongValues int64        `json:"wrongValues"`
	Reads       []defragRead `json:"reads"`
	Verify      defragVerify `json:"verify"`
}

// defragValue is the value of key index i in generation gen (1: the fill, 2: the overwrite of a
// kept key): "g<gen>-<i>-" then the hex SHA-256 of "g<gen>-<i>-<n>" for n = 0, 1, ... up to size
// bytes. Incompressible for LevelDB's Snappy (bbolt does not compress at all), so both backends
// hold about the same bytes. @kv/bench's defrag test builds the same values to check the kept keys.
func defragValue(gen, i, size int) string {
	head := fmt.Sprintf("g%d-%d-", gen, i)
	var b strings.Builder
	b.WriteString(head)
	for n := 0; b.Len() < size; n++ {
		h := sha256.Sum256([]byte(head + strconv.Itoa(n)))
		b.WriteString(hex.EncodeToString(h[:]))
	}
	v := b.String()
	if len(v) > size && len(head) <= size {
		v = v[:size]
	}
	return v
}

func (c *config) kept(i int) bool { return i%c.keepEvery == 0 }

// batches runs f over [0, n) in slices of prefillBatch indexes, c.clients slices in flight.
func batches(c *config, n int, f func(ctx context.Context, from, to int) error) error {
	st := runLoop(c, (n+prefillBatch-1)/prefillBatch, 0, nil, func(ctx context.Context, _, b int) error {
		from := b * prefillBatch
		to := from + prefillBatch
		if to > n {
			to = n
		}
		return f(ctx, from, to)
	}, nil)
	if st.errors > 0 {
		return fmt.Errorf("%d of the batches failed; first: %s", st.errors, st.firstError)
	}
	return nil
}

func runDefrag(c *config, conns []*clientv3.Client) (*defragResult, error) {
	r := &defragResult{runInfo: c.runInfo(),
		Keys: c.keySpace, ValSize: c.valSize}
	cl := conns[0]
	ep := c.endpoints[0]
	key := func(i int) string { return makeKey("k", i, c.keySize) }
	var keptIdx []int
	for i := 0; i < c.keySpace; i++ {
		if c.kept(i) {
			keptIdx = append(keptIdx, i)
		}
	}
	r.Kept = len(keptIdx)

	t0 := time.Now()
	fillCfg := *c
	fillCfg.clients = minInt(c.clients, 8)
	err := batches(&fillCfg, c.keySpace, func(ctx context.Context, from, to int) error {
		ops := make([]clientv3.Op, 0, to-from)
		for i := from; i < to; i++ {
			ops = append(ops, clientv3.OpPut(key(i), defragValue(1, i, c.valSize)))
		}
		_, err := conns[from/prefillBatch%len(conns)].Txn(ctx).Then(ops...).Commit()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("fill: %w", err)
	}
	r.FillSeconds = time.Since(t0).Seconds()
	t0 = time.Now()
	err = batches(&fillCfg, c.keySpace, func(ctx context.Context, from, to int) error {
		ops := make([]clientv3.Op, 0, to-from)
		for i := from; i < to; i++ {
			if c.kept(i) {
				ops = append(ops, clientv3.OpPut(key(i), defragValue(2, i, c.valSize)))
			} else {
				ops = append(ops, clientv3.OpDelete(key(i)))
			}
		}
		_, err := conns[from/prefillBatch%len(conns)].Txn(ctx).Then(ops...).Commit()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("churn: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.defragTimeout)
	defer cancel()
	g, err := cl.Get(ctx, key(0), clientv3.WithCountOnly())
	if err != nil {
		return nil, fmt.Errorf("reading the revision: %w", err)
	}
	r.CompactRev = g.Header.Revision
	if _, err := cl.Compact(ctx, r.CompactRev, clientv3.WithCompactPhysical()); err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	r.ChurnSeconds = time.Since(t0).Seconds()
	s, err := cl.Status(ctx, ep)
	if err != nil {
		return nil, fmt.Errorf("status before: %w", err)
	}
	r.DbSizeBefore, r.DbSizeInUseBefore = s.DbSize, s.DbSizeInUse

	// The readers: each keeps its own list (no lock on the hot path) and hands it over at the end.
	base := time.Now()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	var (
		stop               int32
		wg                 sync.WaitGroup
		mu                 sync.Mutex
		readErrs, wrongVal int64
	)
	for w := 0; w < c.clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rnd := rand.New(rand.NewSource(c.seed*7919 + int64(w)))
			linear := w%2 == 1
			var opts []clientv3.OpOption
			if !linear {
				opts = append(opts, clientv3.WithSerializable())
			}
			var mine []defragRead
			for atomic.LoadInt32(&stop) == 0 {
				i := keptIdx[rnd.Intn(len(keptIdx))]
				rctx, rcancel := context.WithTimeout(context.Background(), c.requestTimeout)
				start := time.Now()
				resp, err := conns[w%len(conns)].Get(rctx, key(i), opts...)
				lat := time.Since(start)
				rcancel()
				ok := err == nil && len(resp.Kvs) == 1 && string(resp.Kvs[0].Value) == defragValue(2, i, c.valSize)
				if !ok {
					if err == nil {
						atomic.AddInt64(&wrongVal, 1)
						err = fmt.Errorf("read of %s: %d values, not the kept one", key(i), len(resp.Kvs))
					}
					if atomic.AddInt64(&readErrs, 1) == 1 {
						mu.Lock()
						r.FirstError = err.Error()
						mu.Unlock()
					}
				}
				l := 0.0
				if linear {
					l = 1
				}
				okf := 0.0
				if ok {
					okf = 1
				}
				mine = append(mine, defragRead{ms(start.Sub(base)), ms(lat), l, okf})
			}
			mu.Lock()
			r.Reads = append(r.Reads, mine...)
			mu.Unlock()
		}(w)
	}
	time.Sleep(c.before)
	r.DefragStartMs = ms(time.Since(base))
	_, derr := cl.Defragment(ctx, ep)
	r.DefragEndMs = ms(time.Since(base))
	if derr != nil {
		r.DefragError = derr.Error()
	}
	time.Sleep(c.after)
	atomic.StoreInt32(&stop, 1)
	wg.Wait()
	r.ReadsEndMs = ms(time.Since(base))
	r.ReadErrors, r.WrongValues = readErrs, wrongVal
	r.Ops = int64(len(r.Reads)) - readErrs
	r.Errors = readErrs
	if derr != nil {
		r.Errors++
		if r.FirstError == "" {
			r.FirstError = "defragment: " + r.DefragError
		}
	}

	if s, err = cl.Status(ctx, ep); err != nil {
		return nil, fmt.Errorf("status after: %w", err)
	}
	r.DbSizeAfter, r.DbSizeInUseAfter = s.DbSize, s.DbSizeInUse
	r.Verify = verifyKept(ctx, c, cl, keptIdx)
	if r.Verify.Mismatches > 0 || r.Verify.Keys != r.Verify.Expected {
		r.Errors++
		if r.FirstError == "" {
			r.FirstError = fmt.Sprintf("after the defrag: %d keys of %d, %d mismatches (%s)", r.Verify.Keys, r.Verify.Expected,
				r.Verify.Mismatches, r.Verify.FirstMismatch)
		}
	}
	return r, nil
}

// verifyKept ranges over the whole prefix, 1000 keys a page (linearizable), and compares with the
// kept keys and their second values, in order.
func verifyKept(ctx context.Context, c *config, cl *clientv3.Client, keptIdx []int) defragVerify {
	v := defragVerify{Expected: len(keptIdx)}
	miss := func(s string) {
		v.Mismatches++
		if v.FirstMismatch == "" {
			v.FirstMismatch = s
		}
	}
	from, end := "k", clientv3.GetPrefixRangeEnd("k")
	for {
		resp, err := cl.Get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(1000))
		if err != nil {
			miss("range: " + err.Error())
			return v
		}
		for _, kv := range resp.Kvs {
			if v.Keys < len(keptIdx) {
				i := keptIdx[v.Keys]
				if string(kv.Key) != makeKey("k", i, c.keySize) {
					miss(fmt.Sprintf("key %d is %q, expected %q", v.Keys, kv.Key, makeKey("k", i, c.keySize)))
				} else if string(kv.Value) != defragValue(2, i, c.valSize) {
					miss(fmt.Sprintf("value of %q differs", kv.Key))
				}
			} else {
				miss(fmt.Sprintf("unexpected key %q", kv.Key))
			}
			v.Keys++
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return v
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}
