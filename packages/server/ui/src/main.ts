// The dashboard's entry: decides whether to log in (a probe Range: with auth on and no valid
// token the member answers etcd's `user name is empty` / `invalid auth token`), then shows four
// panes as tabs (#cluster, #keys, #watch, #charts). Only the shown pane polls. Nothing is shown
// from the cluster before the probe passes.
import { Api, errorOf, needsLogin } from './api.js';
import { strToB64 } from './bytes.js';
import { ChartsPane, pollMs } from './charts.js';
import { ClusterPane } from './cluster.js';
import { el, errorText, fill } from './dom.js';
import { KeysPane } from './keys.js';
import { WatchPane } from './watch.js';

const tokenKey = 'kv-dashboard-token';
const api = new Api();
api.token = sessionStorage.getItem(tokenKey) ?? undefined;
const app = document.getElementById('app')!;

/** A Range any user may be refused or allowed; what matters is whether the token is accepted. */
async function probe(): Promise<'ok' | 'login'> {
  try {
    await api.range({ key: strToB64('\u0000kv-dashboard-probe'), count_only: true });
    return 'ok';
  } catch (err) {
    if (needsLogin(err)) return 'login';
    // permission denied etc.: the token is valid; panes show their own errors.
    if (errorOf(err)) return 'ok';
    throw err;
  }
}

function showLogin(message: string): void {
  api.token = undefined;
  sessionStorage.removeItem(tokenKey);
  const user = el('input', { id: 'login-user', name: 'username', autocomplete: 'username', value: 'root' });
  const pass = el('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password' });
  const err = el('p', { class: 'error', role: 'alert', id: 'login-error' }, message);
  const form = el(
    'form',
    { class: 'login', id: 'login' },
    el('h2', {}, 'Log in'),
    el('p', {}, 'Authentication is enabled on this cluster.'),
    el('label', {}, 'User ', user),
    el('label', {}, 'Password ', pass),
    el('button', { type: 'submit' }, 'Log in'),
    err,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    err.textContent = '';
    api.login(user.value, pass.value).then(
      () => {
        sessionStorage.setItem(tokenKey, api.token!);
        void start();
      },
      (e2: unknown) => (err.textContent = errorText(e2)),
    );
  });
  fill(app, form);
  pass.focus();
}

const tabs = ['cluster', 'keys', 'watch', 'charts'] as const;
type Tab = (typeof tabs)[number];

function showDashboard(): void {
  const cluster = new ClusterPane(api);
  const keys = new KeysPane(api);
  const watch = new WatchPane(api);
  const charts = new ChartsPane(api);
  const panes: Record<Tab, HTMLElement> = { cluster: cluster.root, keys: keys.root, watch: watch.root, charts: charts.root };
  const nav = el('nav', {}, ...tabs.map((t) => el('a', { href: `#${t}`, id: `tab-${t}` }, t[0]!.toUpperCase() + t.slice(1))));
  const logout = el('button', { type: 'button', id: 'logout', hidden: '' }, 'Log out');
  logout.hidden = api.token === undefined;
  logout.addEventListener('click', () => {
    watch.halt('Stopped.');
    showLogin('');
  });
  fill(app, el('header', {}, nav, logout), ...tabs.map((t) => panes[t]));
  let current: Tab = 'cluster';
  const select = () => {
    const h = location.hash.slice(1);
    current = (tabs as readonly string[]).includes(h) ? (h as Tab) : 'cluster';
    for (const t of tabs) {
      panes[t].hidden = t !== current;
      document.getElementById(`tab-${t}`)!.classList.toggle('active', t === current);
    }
    if (current === 'keys' && keys.root.dataset.listed === undefined) {
      keys.root.dataset.listed = '1';
      void keys.listFrom(undefined);
    }
  };
  window.addEventListener('hashchange', select);
  select();
  // One poller: the cluster pane every 2 s while shown, the charts every second always (a rate
  // needs consecutive scrapes, so charts keep their history while another pane is shown).
  let ticks = 0;
  const tick = async () => {
    if (!app.contains(cluster.root)) return; // logged out
    try {
      if (current === 'cluster' && ticks % 2 === 0) await cluster.refresh();
      await charts.poll();
    } catch (err) {
      if (needsLogin(err)) {
        watch.halt('Stopped.');
        showLogin(errorText(err));
        return;
      }
    }
    ticks++;
    setTimeout(() => void tick(), pollMs);
  };
  void tick();
}

async function start(): Promise<void> {
  try {
    const p = await probe();
    if (p === 'login') showLogin(api.token ? 'Your session has ended; log in again.' : '');
    else showDashboard();
  } catch (err) {
    fill(app, el('p', { class: 'error', role: 'alert' }, `Cannot reach the member: ${errorText(err)}`));
  }
}

void start();
