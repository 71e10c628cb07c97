// The cluster pane: members (/v3/cluster/member/list), this member's Status
// (/v3/maintenance/status), the others' (/ui/api/members, asked by kvd over their client URLs),
// and the alarms (/v3/maintenance/alarm), polled every 2 s while the pane is shown.
import type { Api } from './api.js';
import { humanBytes } from './bytes.js';
import { el, errorText, fill, hexId } from './dom.js';

interface MemberJson {
  ID?: string;
  name?: string;
  peerURLs?: string[];
  clientURLs?: string[];
  isLearner?: boolean;
}
interface StatusJson {
  header?: { member_id?: string; raft_term?: string };
  version?: string;
  dbSize?: string;
  dbSizeInUse?: string;
  leader?: string;
  raftIndex?: string;
  raftTerm?: string;
  raftAppliedIndex?: string;
  errors?: string[];
  isLearner?: boolean;
}
interface AlarmJson {
  memberID?: string;
  alarm?: string;
}
interface PeerRow {
  ID: string;
  name: string;
  status?: StatusJson;
  error?: string;
}

export class ClusterPane {
  readonly root = el('section', { id: 'cluster', class: 'pane' });
  private readonly table = el('tbody');
  private readonly summary = el('p', { class: 'summary' });
  private readonly alarmsBox = el('div', { class: 'alarms' });
  private readonly err = el('p', { class: 'error', role: 'alert' });

  constructor(private readonly api: Api) {
    const head = el(
      'tr',
      {},
      ...[
        'Name',
        'ID',
        'Role',
        'Peer URLs',
        'Client URLs',
        'Raft term',
        'Raft index',
        'Applied index',
        'DB size',
        'DB in use',
        'Version',
        'Alarms',
        'Status',
      ].map((h) => el('th', {}, h)),
    );
    this.root.append(
      el('h2', {}, 'Cluster'),
      this.summary,
      this.err,
      el('table', { class: 'members' }, el('thead', {}, head), this.table),
      this.alarmsBox,
    );
  }

  async refresh(): Promise<void> {
    try {
      const [list, self, alarms, peers] = await Promise.all([
        this.api.post<{ members?: MemberJson[] }>('/v3/cluster/member/list', {}),
        this.api.post<StatusJson>('/v3/maintenance/status', {}),
        this.api.post<{ alarms?: AlarmJson[] }>('/v3/maintenance/alarm', { action: 'GET' }),
        this.api.post<{ members: PeerRow[] }>('/ui/api/members', {}),
      ]);
      this.err.textContent = '';
      this.render(list.members ?? [], self, alarms.alarms ?? [], peers.members);
    } catch (err) {
      this.err.textContent = errorText(err);
      throw err;
    }
  }

  private render(members: MemberJson[], self: StatusJson, alarms: AlarmJson[], peers: PeerRow[]): void {
    const selfId = self.header?.member_id;
    const statusOf = new Map<string, { status?: StatusJson; error?: string }>();
    if (selfId) statusOf.set(selfId, { status: self });
    for (const p of peers) statusOf.set(p.ID, p);
    // Each member says who it thinks leads; the page shows this member's view and marks disagreement.
    const leader = self.leader;
    fill(
      this.summary,
      `${members.length} members · leader ${leader && leader !== '0' ? (members.find((m) => m.ID === leader)?.name ?? hexId(leader)) : 'none'} (${hexId(leader)}) · `,
      `this page is served by ${members.find((m) => m.ID === selfId)?.name ?? hexId(selfId)} · raft term ${self.raftTerm ?? '—'}`,
    );
    const rows = members.map((m) => {
      const s = statusOf.get(m.ID ?? '');
      const st = s?.status;
      const mine = alarms.filter((a) => a.memberID === m.ID).map((a) => a.alarm ?? 'NONE');
      const role = m.isLearner ? 'learner' : m.ID === leader ? 'leader' : 'follower';
      const disagrees = st?.leader !== undefined && st.leader !== leader;
      const cell = (v: string | undefined) => el('td', {}, v ?? '—');
      return el(
        'tr',
        { 'data-member': m.name ?? '', class: role },
        el('td', {}, m.name || '(unstarted)'),
        el('td', { class: 'mono' }, hexId(m.ID)),
        el('td', { class: 'role' }, role, m.ID === selfId ? ' (this member)' : ''),
        el('td', { class: 'mono' }, (m.peerURLs ?? []).join(' ')),
        el('td', { class: 'mono' }, (m.clientURLs ?? []).join(' ')),
        cell(st?.raftTerm),
        cell(st?.raftIndex),
        cell(st?.raftAppliedIndex),
        cell(st ? humanBytes(Number(st.dbSize ?? 0)) : undefined),
        cell(st ? humanBytes(Number(st.dbSizeInUse ?? 0)) : undefined),
        cell(st?.version),
        el('td', { class: mine.length > 0 ? 'alarm' : '' }, mine.length > 0 ? mine.join(', ') : 'none'),
        el(
          'td',
          { class: s?.error ? 'error status' : 'status' },
          s?.error ??
            (st
              ? `ok${disagrees ? ` (sees leader ${hexId(st.leader)})` : ''}${st.errors?.length ? `; ${st.errors.join('; ')}` : ''}`
              : 'no answer'),
        ),
      );
    });
    fill(this.table, ...rows);
    fill(
      this.alarmsBox,
      el('h3', {}, 'Alarms'),
      alarms.length === 0
        ? 'No active alarms.'
        : el('ul', {}, ...alarms.map((a) => el('li', { class: 'alarm' }, `${a.alarm ?? 'NONE'} on ${hexId(a.memberID)}`))),
    );
  }
}
