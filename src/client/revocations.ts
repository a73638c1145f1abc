/**
 * The edge side of Heimdall's revocation feed
 * (`GET /v1/apps/<app>/revocations`). The feed is re-read at most every
 * `intervalMs`, by the first verification that finds it older (Workers have
 * no timers between requests, so "background" means: the request that
 * notices pays nothing, it verifies against the copy it has while the new one
 * loads). Only the very first verification waits for the feed. Polls send the
 * last ETag, so an unchanged feed costs a 304.
 */

export interface RevocationOptions {
  /** Default `<issuer>/v1/apps/<app>/revocations`. */
  url?: string;
  /** How often the feed is re-read; default 5000 ms, at least 1000. */
  intervalMs?: number;
  /**
   * When the feed cannot be read for longer than this (default 60 s), apply
   * `onUnavailable`: `allow` (default) keeps verifying against the last copy
   * (tokens still expire), `deny` refuses every token until it is back.
   */
  maxStaleMs?: number;
  onUnavailable?: 'allow' | 'deny';
}

interface Feed {
  app_not_before: number | null;
  app_epoch?: number;
  revocations: { type: string; id: string; not_before: number; epoch?: number }[];
}

/** A subject's cut-off: the instant (seconds), and for users the cut-off count. */
interface SubjectCutoff {
  notBefore: number;
  epoch: number | undefined;
}

interface Snapshot {
  fetchedAt: number;
  etag: string | null;
  appNotBefore: number | null;
  appEpoch: number | undefined;
  subjects: Map<string, SubjectCutoff>;
}

/** The claims a cut-off is decided on. */
export interface CutoffClaims {
  sub: string;
  iat: number;
  app_epoch?: unknown;
  sub_epoch?: unknown;
}

/**
 * Whether a token predates a cut-off (README.md#revocation-cut-offs): by the
 * cut-off counts when both the token and the feed carry them, which is exact
 * within one second; else by `iat` against the instant, rounded up.
 */
function predates(count: unknown, epoch: number | undefined, iat: number, notBefore: number | null): boolean {
  if (typeof count === 'number' && epoch !== undefined) return count < epoch;
  return notBefore !== null && iat < notBefore;
}

export class RevocationPoller {
  readonly #url: string;
  readonly #fetch: typeof fetch;
  readonly #intervalMs: number;
  readonly #maxStaleMs: number;
  readonly #deny: boolean;
  #snapshot: Snapshot | null = null;
  #lastAttempt = 0;
  #loading: Promise<void> | null = null;

  constructor(options: RevocationOptions & { url: string; fetch: typeof fetch }) {
    this.#url = options.url;
    this.#fetch = options.fetch;
    this.#intervalMs = options.intervalMs ?? 5_000;
    this.#maxStaleMs = options.maxStaleMs ?? 60_000;
    this.#deny = (options.onUnavailable ?? 'allow') === 'deny';
    if (!Number.isFinite(this.#intervalMs) || this.#intervalMs < 1_000) throw new TypeError('heimdall: revocations.intervalMs must be at least 1000');
    if (!Number.isFinite(this.#maxStaleMs) || this.#maxStaleMs < this.#intervalMs) throw new TypeError('heimdall: revocations.maxStaleMs must be at least intervalMs');
  }

  async #load(): Promise<void> {
    this.#lastAttempt = Date.now();
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.#snapshot?.etag) headers['If-None-Match'] = this.#snapshot.etag;
    const res = await this.#fetch(this.#url, { headers });
    if (res.status === 304 && this.#snapshot) {
      this.#snapshot = { ...this.#snapshot, fetchedAt: Date.now() };
      return;
    }
    if (!res.ok) throw new Error(`heimdall: revocation feed answered ${res.status}`);
    const feed = (await res.json()) as Feed;
    const subjects = new Map<string, SubjectCutoff>();
    for (const entry of feed.revocations) {
      const seen = subjects.get(entry.id);
      subjects.set(entry.id, {
        notBefore: Math.max(entry.not_before, seen?.notBefore ?? 0),
        epoch: typeof entry.epoch === 'number' ? Math.max(entry.epoch, seen?.epoch ?? 0) : seen?.epoch,
      });
    }
    this.#snapshot = {
      fetchedAt: Date.now(),
      etag: res.headers.get('ETag'),
      appNotBefore: feed.app_not_before,
      appEpoch: typeof feed.app_epoch === 'number' ? feed.app_epoch : undefined,
      subjects,
    };
  }

  #refresh(): Promise<void> {
    this.#loading ??= this.#load()
      .catch(() => undefined)
      .finally(() => {
        this.#loading = null;
      });
    return this.#loading;
  }

  /** True when the feed says this token of its subject (or app) no longer passes. */
  async isRevoked(claims: CutoffClaims): Promise<boolean> {
    const now = Date.now();
    if (now - this.#lastAttempt >= this.#intervalMs) {
      const refresh = this.#refresh();
      if (!this.#snapshot) await refresh;
    }
    const snapshot = this.#snapshot;
    if (!snapshot || now - snapshot.fetchedAt > this.#maxStaleMs) {
      if (this.#deny) return true;
      if (!snapshot) return false;
    }
    if (predates(claims.app_epoch, snapshot.appEpoch, claims.iat, snapshot.appNotBefore)) return true;
    const cutoff = snapshot.subjects.get(claims.sub);
    return cutoff !== undefined && predates(claims.sub_epoch, cutoff.epoch, claims.iat, cutoff.notBefore);
  }

  close(): void {
    this.#snapshot = null;
  }
}
