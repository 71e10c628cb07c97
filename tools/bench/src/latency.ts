// Latency recording with HdrHistogram (hdr-histogram-js): values in microseconds, 3 significant
// digits (≤0.1% error at any magnitude), fixed memory however many samples, O(1) recording.
import { build, type Histogram } from 'hdr-histogram-js';

export interface LatencySummary {
  /** Samples recorded. */
  count: number;
  /** Milliseconds. */
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Latencies up to one hour are tracked; longer ones are clamped (they cannot happen with deadlines). */
const HIGHEST_US = 3_600_000_000;

export class LatencyRecorder {
  private readonly h: Histogram = build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    autoResize: false,
  });

  /** Record one latency given in nanoseconds (process.hrtime.bigint() differences). */
  recordNs(ns: bigint): void {
    const us = Number(ns / 1000n);
    this.h.recordValue(Math.min(Math.max(us, 1), HIGHEST_US));
  }

  /** Record one latency given in milliseconds. */
  recordMs(ms: number): void {
    this.h.recordValue(Math.min(Math.max(Math.round(ms * 1000), 1), HIGHEST_US));
  }

  get count(): number {
    return this.h.totalCount;
  }

  summary(): LatencySummary {
    const ms = (us: number) => Math.round(us) / 1000;
    if (this.h.totalCount === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
    return {
      count: this.h.totalCount,
      mean: ms(this.h.mean),
      p50: ms(this.h.getValueAtPercentile(50)),
      p90: ms(this.h.getValueAtPercentile(90)),
      p99: ms(this.h.getValueAtPercentile(99)),
      p999: ms(this.h.getValueAtPercentile(99.9)),
      max: ms(this.h.maxValue),
    };
  }

  /** Release the histogram's buffers (a no-op for the JS implementation, required for WASM). */
  destroy(): void {
    this.h.destroy();
  }
}
