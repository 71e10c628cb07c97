package main

// Latency samples and their summary. Every sample is kept (a few hundred thousand int64s at most
// for the runs this tool is meant for) and sorted once at the end, so percentiles are exact.

import (
	"math"
	"sort"
	"sync"
	"time"
)

// samples is a goroutine-safe list of durations.
type samples struct {
	mu sync.Mutex
	ns []int64
}

func (s *samples) add(d time.Duration) {
	s.mu.Lock()
	s.ns = append(s.ns, int64(d))
	s.mu.Unlock()
}

// addAll appends a worker's private list in one lock (workers keep their own to avoid contention).
func (s *samples) addAll(ds []int64) {
	s.mu.Lock()
	s.ns = append(s.ns, ds...)
	s.mu.Unlock()
}

// summary holds milliseconds; all zero when there were no samples.
type summary struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50Ms"`
	P90   float64 `json:"p90Ms"`
	P99   float64 `json:"p99Ms"`
	P999  float64 `json:"p999Ms"`
	Max   float64 `json:"maxMs"`
	Mean  float64 `json:"meanMs"`
}

// percentile of sorted values by the nearest-rank method: the smallest value with at least
// q of the samples at or below it.
func percentile(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}

func (s *samples) summary() summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	sort.Slice(s.ns, func(i, j int) bool { return s.ns[i] < s.ns[j] })
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	out := summary{Count: len(s.ns)}
	if len(s.ns) == 0 {
		return out
	}
	var sum float64
	for _, v := range s.ns {
		sum += float64(v)
	}
	out.P50 = ms(percentile(s.ns, 0.50))
	out.P90 = ms(percentile(s.ns, 0.90))
	out.P99 = ms(percentile(s.ns, 0.99))
	out.P999 = ms(percentile(s.ns, 0.999))
	out.Max = ms(s.ns[len(s.ns)-1])
	out.Mean = sum / float64(len(s.ns)) / 1e6
	return out
}
