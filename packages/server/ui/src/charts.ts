// Live charts from this member's /metrics, polled every second while the pane is shown:
// proposals committed per second (rate of etcd_server_proposals_committed_total), WAL fsync
// latency per interval (mean and p99 from etcd_disk_wal_fsync_duration_seconds' bucket deltas),
// and the watch gauges (etcd_debugging_mvcc_watcher_total, _watch_stream_total,
// _slow_watcher_total). Plotted with uPlot (bundled; canvas, no DOM per point).
import uPlot from 'uplot';
import type { Api } from './api.js';
import { el, errorText } from './dom.js';
import { parsePrometheus, total } from './prom.js';
import { histogramInterval, ratePerSecond, type Point } from './rates.js';

/** Points kept per chart (two minutes at one poll a second). */
export const chartWindow = 120;
export const pollMs = 1000;

interface Chart {
  plot: uPlot;
  data: (number | null)[][];
}

export class ChartsPane {
  readonly root = el('section', { id: 'charts', class: 'pane' });
  private readonly err = el('p', { class: 'error', role: 'alert' });
  private readonly note = el('p', { class: 'summary', id: 'charts-state' }, 'Waiting for two scrapes of /metrics…');
  private prev: Point | undefined;
  private charts: Chart[] = [];
  /** Scrapes that produced a point (the test and the status line read it). */
  points = 0;

  constructor(private readonly api: Api) {
    this.root.append(el('h2', {}, 'Charts'), this.note, this.err);
  }

  private make(title: string, id: string, series: { label: string; stroke: string }[], unit: string): Chart {
    const box = el('div', { class: 'chart', id });
    this.root.append(box);
    const data: (number | null)[][] = [[], ...series.map(() => [])];
    const width = Math.max(320, Math.min(900, this.root.clientWidth || 900));
    const plot = new uPlot(
      {
        title,
        width,
        height: 200,
        series: [
          {},
          ...series.map((s) => ({
            label: s.label,
            stroke: s.stroke,
            width: 2,
            spanGaps: false,
            value: (_u: uPlot, v: number | null) => (v === null ? '—' : `${v.toFixed(v < 10 ? 3 : 1)} ${unit}`),
          })),
        ],
        axes: [
          {
            space: 90,
            values: (_u: uPlot, splits: number[]) => splits.map((t) => new Date(t * 1000).toLocaleTimeString([], { hour12: false })),
          },
          { label: unit, size: 70 },
        ],
        scales: { y: { range: (_u: uPlot, _min: number, max: number) => [0, max > 0 ? max * 1.1 : 1] } },
      },
      data as uPlot.AlignedData,
      box,
    );
    return { plot, data };
  }

  private ensureCharts(): void {
    if (this.charts.length > 0) return;
    this.charts = [
      this.make('Proposals committed per second', 'chart-proposals', [{ label: 'proposals/s', stroke: '#2563eb' }], '/s'),
      this.make(
        'WAL fsync latency',
        'chart-fsync',
        [
          { label: 'mean', stroke: '#059669' },
          { label: 'p99', stroke: '#dc2626' },
        ],
        'ms',
      ),
      this.make(
        'Watches',
        'chart-watch',
        [
          { label: 'watchers', stroke: '#7c3aed' },
          { label: 'watch streams', stroke: '#ea580c' },
          { label: 'slow watchers', stroke: '#6b7280' },
        ],
        '',
      ),
    ];
  }

  private push(c: Chart, t: number, values: (number | null)[]): void {
    c.data[0]!.push(t);
    for (const [i, v] of values.entries()) c.data[i + 1]!.push(v);
    if (c.data[0]!.length > chartWindow) for (const s of c.data) s.shift();
    c.plot.setData(c.data as uPlot.AlignedData);
  }

  async poll(): Promise<void> {
    let cur: Point;
    try {
      cur = { t: Date.now() / 1000, scrape: parsePrometheus(await this.api.metrics()) };
      this.err.textContent = '';
    } catch (err) {
      this.err.textContent = errorText(err);
      return;
    }
    const prev = this.prev;
    this.prev = cur;
    if (!prev) return;
    this.ensureCharts();
    const fsync = histogramInterval(prev, cur, 'etcd_disk_wal_fsync_duration_seconds');
    const ms = (s: number | undefined) => (s === undefined || Number.isNaN(s) ? null : s * 1000);
    const [p, f, w] = this.charts as [Chart, Chart, Chart];
    const proposals = ratePerSecond(prev, cur, 'etcd_server_proposals_committed_total');
    this.push(p, cur.t, [proposals]);
    this.push(f, cur.t, [ms(fsync?.mean), ms(fsync?.p99)]);
    const watchers = total(cur.scrape, 'etcd_debugging_mvcc_watcher_total') ?? null;
    this.push(w, cur.t, [
      watchers,
      total(cur.scrape, 'etcd_debugging_mvcc_watch_stream_total') ?? null,
      total(cur.scrape, 'etcd_debugging_mvcc_slow_watcher_total') ?? null,
    ]);
    this.points++;
    // The latest values, for people inspecting the page and for the browser test.
    this.root.dataset.points = String(this.points);
    this.root.dataset.proposalsPerSecond = String(proposals);
    this.root.dataset.fsyncs = String(fsync?.count ?? 0);
    this.root.dataset.watchers = String(watchers);
    this.note.textContent = `From this member's /metrics, every ${pollMs / 1000} s · ${this.points} point${this.points === 1 ? '' : 's'} · last interval: ${fsync?.count ?? 0} WAL fsyncs`;
  }
}
