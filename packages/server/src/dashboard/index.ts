// The web dashboard at /ui (issue 13): static assets (assets.ts, http.ts) and the one server-side
// endpoint the browser cannot do without, other members' Status (member_status.ts).
export { defaultAssetDir, loadAssets, type Asset } from './assets.js';
export { answerAsset, contentSecurityPolicy, dashboardNotFound, isDashboardPath, securityHeaders } from './http.js';
export {
  answerMemberStatuses,
  askStatus,
  type ClientTlsMaterial,
  type MemberRef,
  type MemberStatusDeps,
  type MemberStatusRow,
} from './member_status.js';
