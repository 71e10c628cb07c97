// GET /metrics: the member's registry in Prometheus' text format (served on every client URL and
// on every --listen-metrics-urls listener, as etcd's).
import type { HttpAnswer } from '../health.js';
import type { MemberMetrics } from './etcd_metrics.js';

/** The answer for `path`, or undefined when it is not /metrics. */
export async function answerMetrics(method: string, path: string, metrics: MemberMetrics): Promise<HttpAnswer | undefined> {
  if (path !== '/metrics') return undefined;
  if (method !== 'GET' && method !== 'HEAD') {
    return { status: 405, headers: { 'Content-Type': 'text/plain; charset=utf-8', Allow: 'GET, HEAD' }, body: 'Method Not Allowed\n' };
  }
  const { contentType, body } = await metrics.scrape();
  return { status: 200, headers: { 'Content-Type': contentType }, body: method === 'HEAD' ? '' : body };
}
