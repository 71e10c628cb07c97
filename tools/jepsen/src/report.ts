// The run's report: one self-contained HTML file (no external scripts or styles). A timeline of
// every operation per client process (a bar from invoke to completion: green ok, red fail, orange
// info), the nemesis's faults shaded behind it, the anomalies with the operations involved, and
// the run's figures.
import type { Anomaly, HistoryEvent, Op } from '@kv/check';
import { pairOps } from '@kv/check';

export interface Figures {
  server: string;
  members: number;
  seed: number;
  durationMs: number;
  workloads: string[];
  nemeses: string[];
  ops: number;
  ok: number;
  fail: number;
  info: number;
  /** By operation kind: count and latency percentiles of ok ops (ms). */
  byKind: Record<string, { ok: number; fail: number; info: number; p50: number; p99: number; max: number }>;
  faults: Record<string, number>;
  checks: Record<string, number>;
  notes: string[];
}

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function figuresOf(history: readonly HistoryEvent[]): Pick<Figures, 'ops' | 'ok' | 'fail' | 'info' | 'byKind'> {
  const byKind: Figures['byKind'] = {};
  const lat = new Map<string, number[]>();
  let ok = 0,
    fail = 0,
    info = 0;
  const pairs = pairOps(history);
  for (const p of pairs) {
    const k = (byKind[p.invoke.f] ??= { ok: 0, fail: 0, info: 0, p50: 0, p99: 0, max: 0 });
    k[p.type]++;
    if (p.type === 'ok') {
      ok++;
      const l = lat.get(p.invoke.f) ?? [];
      l.push(p.completion!.time - p.invoke.time);
      lat.set(p.invoke.f, l);
    } else if (p.type === 'fail') fail++;
    else info++;
  }
  for (const [f, l] of lat) {
    l.sort((a, b) => a - b);
    const k = byKind[f]!;
    k.p50 = Math.round(pct(l, 50) * 10) / 10;
    k.p99 = Math.round(pct(l, 99) * 10) / 10;
    k.max = Math.round(l[l.length - 1]! * 10) / 10;
  }
  return { ops: pairs.length, ok, fail, info, byKind };
}

function describeOp(o: Op): string {
  const v = o.value === undefined ? '' : ` ${JSON.stringify(o.value)}`;
  return `#${o.index} p${o.process} ${o.type} ${o.f}${o.key !== undefined ? ` ${o.key}` : ''}${v}${o.revision !== undefined ? ` rev ${o.revision}` : ''}${o.error ? ` (${o.error})` : ''} @${o.time.toFixed(1)}ms`;
}

export function renderReport(
  history: readonly HistoryEvent[],
  anomalies: readonly Anomaly[],
  figures: Figures,
  valid: true | false | 'unknown',
): string {
  const pairs = pairOps(history);
  const procs = [...new Set(pairs.map((p) => p.invoke.process))].sort((a, b) => a - b);
  const lane = new Map(procs.map((p, i) => [p, i]));
  // a loop, not Math.max(...times): a long run has more events than a call may take arguments
  let end = figures.durationMs;
  for (const e of history) if (e.time > end) end = e.time;
  const kinds = [...new Set(pairs.map((p) => p.invoke.f))];
  const flagged = new Set(anomalies.filter((a) => !a.expected).flatMap((a) => a.ops));
  // [lane, start, end, type (0 ok, 1 fail, 2 info), kind, flagged, invoke index]
  const bars = pairs.map((p) => [
    lane.get(p.invoke.process)!,
    Math.round(p.invoke.time),
    Math.round(p.completion?.time ?? end),
    p.type === 'ok' ? 0 : p.type === 'fail' ? 1 : 2,
    kinds.indexOf(p.invoke.f),
    flagged.has(p.invoke.index) || (p.completion !== undefined && flagged.has(p.completion.index)) ? 1 : 0,
    p.invoke.index,
  ]);
  const open = new Map<string, { time: number; detail: string }>();
  const faults: Array<[number, number, string]> = [];
  for (const e of history) {
    if (e.kind !== 'nemesis') continue;
    const key = e.name;
    if (e.phase === 'start') open.set(key, { time: e.time, detail: `${e.name}: ${e.detail ?? ''}` });
    else if (e.phase === 'stop') {
      const s = open.get(key);
      if (s) faults.push([Math.round(s.time), Math.round(e.time), s.detail]);
      open.delete(key);
    } else faults.push([Math.round(e.time), Math.round(e.time), `${e.name}: ${e.detail ?? ''}`]);
  }
  for (const s of open.values()) faults.push([Math.round(s.time), Math.round(end), s.detail]);
  const byIndex = new Map(history.filter((e): e is Op => e.kind === 'op').map((o) => [o.index, o]));
  const verdict = valid === true ? 'valid' : valid === false ? 'INVALID' : 'unknown';
  const color = valid === true ? '#1a7f37' : valid === false ? '#cf222e' : '#9a6700';
  const anomalyHtml =
    anomalies.length === 0
      ? '<p>None.</p>'
      : anomalies
          .map(
            (a) =>
              `<div class="anomaly${a.expected ? ' expected' : ''}"><b>${esc(a.checker)} · ${esc(a.type)}</b>${a.expected ? ' <i>(expected: reported, does not fail the run)</i>' : ''}${a.key !== undefined ? ` · key <code>${esc(a.key)}</code>` : ''}<br>${esc(a.message)}` +
              (a.ops.length > 0
                ? `<ul>${a.ops
                    .slice(0, 40)
                    .map((i) => byIndex.get(i))
                    .filter((o): o is Op => o !== undefined)
                    .map((o) => `<li><code>${esc(describeOp(o))}</code></li>`)
                    .join('')}</ul>`
                : '') +
              '</div>',
          )
          .join('\n');
  const kindRows = Object.entries(figures.byKind)
    .map(
      ([f, k]) =>
        `<tr><td>${esc(f)}</td><td>${k.ok}</td><td>${k.fail}</td><td>${k.info}</td><td>${k.p50}</td><td>${k.p99}</td><td>${k.max}</td></tr>`,
    )
    .join('');
  const kv = (o: Record<string, number>): string =>
    Object.entries(o)
      .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${v}</td></tr>`)
      .join('');
  const data = JSON.stringify({ bars, faults, lanes: procs.length, end, kinds });
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>jepsen ${esc(figures.server)} ×${figures.members} seed ${figures.seed}: ${verdict}</title>
<style>
body{font:14px system-ui,sans-serif;margin:20px;color:#1f2328}
h1{font-size:20px} h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse} td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:right} td:first-child,th:first-child{text-align:left}
.anomaly{border-left:4px solid #cf222e;padding:6px 10px;margin:8px 0;background:#fff5f5}
.anomaly.expected{border-color:#9a6700;background:#fff8e6}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
#tip{position:fixed;pointer-events:none;background:#fff;border:1px solid #888;padding:4px 6px;font:12px monospace;display:none;max-width:700px;white-space:pre-wrap}
canvas{border:1px solid #d0d7de}
</style></head><body>
<h1>${esc(figures.server)}, ${figures.members} members, seed ${figures.seed}: <span style="color:${color}">${verdict}</span></h1>
<p>${(figures.durationMs / 1000).toFixed(1)} s · workloads ${esc(figures.workloads.join(', '))} · nemesis ${esc(figures.nemeses.join(', ') || 'none')} ·
${figures.ops} ops: ${figures.ok} ok, ${figures.fail} fail, ${figures.info} info · ${anomalies.filter((a) => !a.expected).length} anomalies, ${anomalies.filter((a) => a.expected).length} expected</p>
${figures.notes.length > 0 ? `<ul>${figures.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
<h2>Timeline</h2>
<div class="legend">one row per client process; bar = invoke → completion<span style="background:#2da44e"></span>ok<span style="background:#e5534b"></span>fail<span style="background:#f0883e"></span>info (indeterminate)<span style="background:rgba(120,120,255,.25)"></span>fault<span style="background:#888;width:2px"></span>new leader (term) seen<span style="border:2px solid #000;width:8px;height:8px"></span>in an anomaly</div>
<p>window from <input id="from" type="range" min="0" max="1000" value="0" style="width:300px"> length <select id="len"><option value="1">all</option><option value="0.5">1/2</option><option value="0.2">1/5</option><option value="0.1">1/10</option><option value="0.02">1/50</option></select> <span id="win"></span></p>
<canvas id="tl" width="1800" height="200"></canvas>
<div id="tip"></div>
<h2>Anomalies</h2>
${anomalyHtml}
<h2>Figures</h2>
<table><tr><th>operation</th><th>ok</th><th>fail</th><th>info</th><th>p50 ms</th><th>p99 ms</th><th>max ms</th></tr>${kindRows}</table>
<h3>Faults</h3><table>${kv(figures.faults)}</table>
<h3>Checks</h3><table>${kv(figures.checks)}</table>
<script>
const D=${data.replace(/</g, '\\u003c')};
const cv=document.getElementById('tl'),cx=cv.getContext('2d'),tip=document.getElementById('tip');
const LH=7,TOP=18,W=cv.width;cv.height=TOP+D.lanes*LH+20;
const COL=['#2da44e','#e5534b','#f0883e'];
let t0=0,t1=D.end;
function x(t){return (t-t0)/(t1-t0)*W}
function draw(){cx.clearRect(0,0,W,cv.height);cx.font='11px sans-serif';
 for(const f of D.faults){const a=x(f[0]),b=Math.max(x(f[1]),a+2),ld=f[2].startsWith('leader');if(b<0||a>W)continue;cx.fillStyle=ld?'rgba(0,0,0,.35)':'rgba(120,120,255,.22)';cx.fillRect(a,ld?TOP-4:0,ld?1:b-a,ld?cv.height-TOP:cv.height);if(!ld){cx.fillStyle='#3344aa';cx.fillText(f[2].split(':')[0],a+2,11)}}
 for(const b of D.bars){const a=x(b[1]),e=Math.max(x(b[2]),a+1);if(e<0||a>W)continue;const y=TOP+b[0]*LH;cx.fillStyle=COL[b[3]];cx.fillRect(a,y,e-a,LH-2);if(b[5]){cx.strokeStyle='#000';cx.lineWidth=2;cx.strokeRect(a-1,y-1,e-a+2,LH)}}
 cx.fillStyle='#555';for(let i=0;i<=10;i++){const t=t0+(t1-t0)*i/10;cx.fillText((t/1000).toFixed(1)+'s',Math.min(i*W/10,W-40),cv.height-4)}
 document.getElementById('win').textContent=(t0/1000).toFixed(1)+'–'+(t1/1000).toFixed(1)+' s'}
function win(){const l=+document.getElementById('len').value*D.end,f=+document.getElementById('from').value/1000*(D.end-l);t0=f;t1=f+l;draw()}
document.getElementById('from').oninput=win;document.getElementById('len').onchange=win;
cv.onmousemove=(ev)=>{const r=cv.getBoundingClientRect(),px=(ev.clientX-r.left)*W/r.width,lane=Math.floor((ev.clientY-r.top-TOP)/LH),t=t0+px/W*(t1-t0);
 const hit=D.bars.find(b=>b[0]===lane&&b[1]<=t+(t1-t0)/W*2&&b[2]>=t-(t1-t0)/W*2);
 const fl=D.faults.filter(f=>f[0]<=t&&f[1]>=t).map(f=>f[2]);
 if(!hit&&fl.length===0){tip.style.display='none';return}
 tip.style.display='block';tip.style.left=(ev.clientX+12)+'px';tip.style.top=(ev.clientY+12)+'px';
 tip.textContent=(hit?'op #'+hit[6]+' '+D.kinds[hit[4]]+' '+['ok','fail','info'][hit[3]]+' '+hit[1]+'–'+hit[2]+' ms ('+(hit[2]-hit[1])+' ms)\\n':'')+fl.join('\\n')};
draw();
</script>
</body></html>
`;
}
