// The dashboard's HTTP answers on the client port: /ui redirects to /ui/, /ui/ is index.html,
// /ui/<hashed asset> the bundled script and style; any other /ui/ path is 404. Every answer
// carries nosniff and a strict Content-Security-Policy: the page loads only its own script and
// style and talks only to its own origin (the JSON gateway, /metrics, /ui/api/).
import type { HttpAnswer } from '../health.js';
import type { Asset } from './assets.js';

/** default-src 'self' and nothing inline: the bundle sets styles through the CSSOM only. */
export const contentSecurityPolicy =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const securityHeaders: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': contentSecurityPolicy,
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

/** Whether a request path is the dashboard's (/ui or below /ui/). */
export function isDashboardPath(path: string): boolean {
  return path === '/ui' || path.startsWith('/ui/');
}

const text = (status: number, body: string, extra: Record<string, string> = {}): HttpAnswer => ({
  status,
  headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...securityHeaders, ...extra },
  body,
});

export const dashboardNotFound = text(404, '404 page not found\n');

/** The answer for a static dashboard path (not /ui/api/), or 404. */
export function answerAsset(method: string, path: string, assets: Map<string, Asset>): HttpAnswer {
  if (method !== 'GET' && method !== 'HEAD') return text(405, 'Method Not Allowed\n', { Allow: 'GET, HEAD' });
  if (path === '/ui') return text(301, 'Moved Permanently\n', { Location: '/ui/' });
  const a = assets.get(path.slice('/ui/'.length));
  if (!a) return dashboardNotFound;
  return {
    status: 200,
    headers: {
      'Content-Type': a.contentType,
      'Cache-Control': a.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      ...securityHeaders,
    },
    body: method === 'HEAD' ? '' : a.body,
  };
}
