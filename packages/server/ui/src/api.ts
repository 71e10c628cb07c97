// The dashboard's one door to kvd: same-origin POSTs to the JSON gateway (/v3/...) and to
// /ui/api/..., with the auth token (kept in memory, and in sessionStorage when there is one) as
// the Authorization header on every call. Errors keep etcd's message and gRPC code.

/** An etcd error as the gateway answers it ({"error","message","code"} with an HTTP status). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Messages that mean "log in (again)": no token, a bad or expired one, or one from before an auth change. */
export function needsLogin(err: unknown): boolean {
  if (!(err instanceof ApiError)) return false;
  return /user name is empty|invalid auth token|revision of auth store is old/.test(err.message);
}

export interface KeyValue {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  version?: string;
  lease?: string;
}

export interface RangeResponse {
  header?: { revision?: string };
  kvs?: KeyValue[];
  more?: boolean;
  count?: string;
}

export class Api {
  token: string | undefined;

  /** `base` is '' in the browser (same origin); tests in node give the member's URL. */
  constructor(readonly base = '') {}

  async post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const res = await fetch(this.base + path, { method: 'POST', headers: this.headers(), body: JSON.stringify(body), signal });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ApiError(text.trim() || `HTTP ${res.status}`, 2, res.status);
    }
    if (!res.ok) {
      const e = parsed as { message?: string; error?: string; code?: number };
      throw new ApiError(e.message ?? e.error ?? `HTTP ${res.status}`, e.code ?? 2, res.status);
    }
    return parsed as T;
  }

  headers(): Record<string, string> {
    const h: Record<string, string> = { 'Content-Type': 'application/json' };
    if (this.token) h.Authorization = this.token;
    return h;
  }

  /** /v3/auth/authenticate; keeps the token for every later call. */
  async login(name: string, password: string): Promise<void> {
    const r = await this.post<{ token?: string }>('/v3/auth/authenticate', { name, password });
    if (!r.token) throw new ApiError('the member answered no token (is auth enabled?)', 2, 200);
    this.token = r.token;
  }

  range(req: Record<string, unknown>, signal?: AbortSignal): Promise<RangeResponse> {
    return this.post<RangeResponse>('/v3/kv/range', req, signal);
  }

  async metrics(signal?: AbortSignal): Promise<string> {
    const res = await fetch(`${this.base}/metrics`, { headers: this.headers(), signal });
    if (!res.ok) throw new ApiError(`/metrics answered HTTP ${res.status}`, 2, res.status);
    return res.text();
  }
}

/** The error as an ApiError (an etcd answer), or undefined for anything else (network, parse). */
export function errorOf(err: unknown): ApiError | undefined {
  return err instanceof ApiError ? err : undefined;
}
