// The revocation feed source: follows gatepass's incremental revocation feed into an in-memory set.
import type { RevocationSource } from './revocation.js';

/**
 * One entry of gatepass's revocation feed: a revoke (`revoked: true`) or an un-revoke, with the token's
 * `exp` (epoch seconds) when gatepass knows it.
 *
 * @example
 * const onChange = (change: RevocationChange) => log.info(change);
 * const feed = createRevocationFeed({ url, token, onChange });
 */
export interface RevocationChange {
  readonly jti: string;
  readonly revoked: boolean;
  readonly exp: number | null;
}

/**
 * Why a feed request failed, stable for logs and alerts:
 * - `unauthorized` (401): the admin key is unknown or was deleted.
 * - `forbidden` (403), `not_found` (404): the key may not read this broker, or it does not exist (a key
 *   scoped to another namespace sees 404).
 * - `http_error`: any other non-2xx answer, redirects included (never followed, so the key is never sent
 *   elsewhere).
 * - `network`: the request failed before an answer (refused, reset, DNS).
 * - `timeout`: no complete answer within `timeoutMs`.
 * - `invalid_response`: the answer is not gatepass's feed (or its cursor did not advance while `more`).
 * - `stopped`: {@link RevocationFeed.stop} was called before the first sync finished.
 * - `listener_failed`: a `subscribe` listener or `onChange` threw; the feed went on.
 *
 * @example
 * const code: RevocationFeedErrorCode = 'unauthorized';
 */
export type RevocationFeedErrorCode =
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'http_error'
  | 'network'
  | 'timeout'
  | 'invalid_response'
  | 'stopped'
  | 'listener_failed';

/**
 * A failure of the feed, with a stable `code`; never carries the admin key.
 *
 * @example
 * feed.start().catch((error: RevocationFeedError) => log.warn({ code: error.code }, 'feed not synced'));
 */
export class RevocationFeedError extends Error {
  readonly code: RevocationFeedErrorCode;
  /** The HTTP status, for the codes that come from one. */
  readonly status: number | undefined;

  constructor(
    code: RevocationFeedErrorCode,
    message: string,
    options: { status?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RevocationFeedError';
    this.code = code;
    this.status = options.status;
  }
}

/**
 * Options of {@link createRevocationFeed}.
 *
 * @example
 * const options: RevocationFeedOptions = {
 *   url: 'https://gatepass.example.com/v1/namespaces/acme/brokers/plant-1/revocations',
 *   token: process.env.GATEPASS_READ_KEY!,
 *   pollIntervalMs: 5_000,
 *   maxStalenessMs: 60_000,
 * };
 */
export interface RevocationFeedOptions {
  /** The broker's revocations URL: `.../v1/namespaces/{namespace}/brokers/{broker}/revocations`. */
  url: string | URL;
  /**
   * An admin key that may read the broker: create a `read` key scoped to its namespace
   * (`POST /v1/admin-keys` with `{ "namespace": "acme", "permission": "read" }`).
   */
  token: string;
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** Milliseconds between polls once in sync, and between retries after a failure. Default 5,000. */
  pollIntervalMs?: number;
  /**
   * How long the last list stays trusted when gatepass cannot be reached, in milliseconds from the last
   * complete sync. Beyond it `isStale()` is true and a verifier refuses every CONNECT with
   * `revocations_unavailable` (CONNACK 0x03 / 0x88) until a sync succeeds. Must exceed `pollIntervalMs`;
   * leave room for a few polls. Default 60,000.
   */
  maxStalenessMs?: number;
  /** Abandon a request after this many milliseconds. Default 10,000. */
  timeoutMs?: number;
  /** Changes per request (gatepass allows 1 to 1,000). Default: gatepass's maximum. */
  pageSize?: number;
  /**
   * Revocations are forgotten this many milliseconds after the token's `exp`: the verifier refuses the
   * token as expired by then. Keep it above the verifier's `clockTolerance`. Default 300,000.
   */
  retainExpiredMs?: number;
  /** Epoch milliseconds. Default `Date.now`; use the verifier's clock. */
  now?: () => number;
  /** Every change applied, revokes and un-revokes, in feed order. */
  onChange?: (change: RevocationChange) => void;
  /** Every failed sync attempt (the feed retries after `pollIntervalMs`), and listeners that threw. */
  onError?: (error: RevocationFeedError) => void;
}

/**
 * What {@link RevocationFeed.status} reports, for health checks and metrics.
 *
 * @example
 * const { stale, syncedAt, size, lastError }: RevocationFeedStatus = feed.status();
 */
export interface RevocationFeedStatus {
  /** Between `start()` and `stop()`. */
  readonly running: boolean;
  /** As {@link RevocationFeed.isStale}. */
  readonly stale: boolean;
  /** When the last complete sync was requested (epoch milliseconds), or null before the first. */
  readonly syncedAt: number | null;
  /** The feed cursor the next poll passes as `since`. */
  readonly cursor: string;
  /** Revoked `jti`s held. */
  readonly size: number;
  /** The code of the last failed attempt, cleared by a successful sync. */
  readonly lastError: RevocationFeedErrorCode | null;
}

/**
 * A {@link RevocationSource} following gatepass's revocation feed. Build with {@link createRevocationFeed}.
 *
 * @example
 * const feed: RevocationFeed = createRevocationFeed({ url, token });
 * await feed.start();
 * const unsubscribe = feed.subscribe((jti) => kickSessionsOf(jti));
 */
export interface RevocationFeed extends RevocationSource {
  /** A hash lookup, no I/O: whether the last synced list holds `jti`. */
  isRevoked(jti: string): boolean;
  /** True before the first complete sync, and when the last one is `maxStalenessMs` old or older. */
  isStale(): boolean;
  /**
   * Starts following the feed; resolves after the first complete sync. When that first attempt fails it
   * rejects with a {@link RevocationFeedError}, and the feed keeps retrying every `pollIntervalMs` until
   * `stop()`. Calling it again while running returns the same promise.
   */
  start(): Promise<void>;
  /** Stops polling and abandons a request in flight; the list is kept, and `start()` resumes from it. */
  stop(): void;
  /**
   * Calls `listener` with each `jti` newly revoked (not for one revoked already, nor for un-revokes), right
   * after it enters the list, so a broker can end the sessions it authorised. Returns the unsubscribe.
   */
  subscribe(listener: (jti: string) => void): () => void;
  status(): RevocationFeedStatus;
  readonly size: number;
}

const DEFAULT_POLL_INTERVAL_MS = 5_000;
const DEFAULT_MAX_STALENESS_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_RETAIN_EXPIRED_MS = 300_000;
const MAX_PAGE_SIZE = 1_000;
/** Expired revocations are swept at most this often: a sweep walks the whole list. */
const PRUNE_INTERVAL_MS = 60_000;

/**
 * Follows `GET {url}?since=<cursor>&limit=<pageSize>` — gatepass's feed of revokes and un-revokes, answered
 * as `{ changes: [{ jti, revoked, exp }], cursor, more }` inside the v4 envelope — starting from the
 * beginning (`since=0`), paging at once while `more`, then polling every `pollIntervalMs`. The list is a
 * hash map from `jti` to the moment it may be forgotten, so `isRevoked` is O(1) whatever its size, and
 * revocations of tokens past their `exp` (plus `retainExpiredMs`) are dropped from memory.
 *
 * **Unreachable feed.** A failed poll keeps the last list and retries after `pollIntervalMs`. While the last
 * complete sync is younger than `maxStalenessMs` nothing changes for clients; from then on `isStale()` is
 * true and a verifier built on this source refuses every CONNECT with `revocations_unavailable` (MQTT 3.1.1
 * CONNACK 0x03 Server unavailable, MQTT 5 0x88), failing closed, until a sync succeeds. The same holds
 * before the first sync. Sessions already connected are not ended by staleness: revocations made while
 * gatepass was unreachable reach `subscribe` listeners when the feed catches up.
 *
 * Only Web APIs: `fetch`, `AbortController`, `setTimeout` (timers are `unref`'d where the platform can, so
 * the feed never keeps a process alive on its own).
 *
 * @example
 * import { createRevocationFeed, createVerifier } from 'gatepass/verifier';
 *
 * const base = 'https://gatepass.example.com/v1/namespaces/acme/brokers/plant-1';
 * const revocations = createRevocationFeed({
 *   url: `${base}/revocations`,
 *   token: process.env.GATEPASS_READ_KEY!, // a `read` admin key scoped to the namespace
 *   pollIntervalMs: 5_000,
 *   maxStalenessMs: 60_000,
 *   onError: (error) => log.warn({ code: error.code }, 'revocation feed'),
 * });
 * await revocations.start();
 * const verifier = createVerifier({
 *   keys: `${base}/jwks.json`,
 *   issuer: 'gatepass',
 *   audience: 'plant-1.acme',
 *   algorithms: ['EdDSA'],
 *   revocations,
 * });
 */
export function createRevocationFeed(options: RevocationFeedOptions): RevocationFeed {
  const endpoint = new URL(options.url);
  if (endpoint.protocol !== 'https:' && endpoint.protocol !== 'http:') {
    throw new TypeError('the revocation feed URL must be http: or https:');
  }
  if (typeof options.token !== 'string' || options.token.length === 0) {
    throw new TypeError('token must be a non-empty admin key');
  }
  const authorization = `Bearer ${options.token}`;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') throw new TypeError('fetch must be a function');
  const pollIntervalMs = positive(options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS, 'pollIntervalMs');
  const maxStalenessMs = positive(options.maxStalenessMs ?? DEFAULT_MAX_STALENESS_MS, 'maxStalenessMs');
  if (maxStalenessMs <= pollIntervalMs) {
    throw new TypeError('maxStalenessMs must exceed pollIntervalMs, or the list goes stale between polls');
  }
  const timeoutMs = positive(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 'timeoutMs');
  const pageSize = options.pageSize ?? MAX_PAGE_SIZE;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    throw new TypeError(`pageSize must be an integer from 1 to ${MAX_PAGE_SIZE}`);
  }
  const retainExpiredMs = options.retainExpiredMs ?? DEFAULT_RETAIN_EXPIRED_MS;
  if (!Number.isFinite(retainExpiredMs) || retainExpiredMs < 0) {
    throw new TypeError('retainExpiredMs must be milliseconds >= 0');
  }
  const now = options.now ?? Date.now;
  const { onChange, onError } = options;

  /** Revoked jti -> epoch milliseconds after which it may be forgotten (+Infinity: never). */
  const revoked = new Map<string, number>();
  const listeners = new Set<(jti: string) => void>();
  let cursor = '0';
  let syncedAt: number | null = null;
  let lastError: RevocationFeedErrorCode | null = null;
  let prunedAt = Number.NEGATIVE_INFINITY;

  let running = false;
  /** Bumped by stop(), so a loop started before it cannot schedule anything after it. */
  let generation = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let inFlight: AbortController | undefined;
  let firstSync: Promise<void> | undefined;
  let settleFirst: { resolve: () => void; reject: (error: RevocationFeedError) => void } | undefined;

  function report(error: RevocationFeedError): void {
    try {
      onError?.(error);
    } catch {
      // A logging hook that throws must not stop the feed.
    }
  }

  function notify(call: () => void): void {
    try {
      call();
    } catch (cause) {
      report(new RevocationFeedError('listener_failed', 'a revocation listener threw', { cause }));
    }
  }

  function apply(change: RevocationChange, nowMs: number): void {
    const { jti } = change;
    if (change.revoked) {
      const forgetAt = change.exp === null ? Number.POSITIVE_INFINITY : change.exp * 1000 + retainExpiredMs;
      if (forgetAt > nowMs) {
        const known = revoked.has(jti);
        revoked.set(jti, forgetAt);
        if (!known) for (const listener of listeners) notify(() => listener(jti));
      } else {
        // Already long expired: the verifier refuses the token anyway, so holding it only costs memory.
        revoked.delete(jti);
      }
    } else {
      revoked.delete(jti);
    }
    if (onChange !== undefined) notify(() => onChange(change));
  }

  function prune(nowMs: number): void {
    if (nowMs - prunedAt < PRUNE_INTERVAL_MS) return;
    prunedAt = nowMs;
    for (const [jti, forgetAt] of revoked) if (forgetAt <= nowMs) revoked.delete(jti);
  }

  /** One request; the parsed page, or a thrown RevocationFeedError. */
  async function fetchPage(since: string, controller: AbortController): Promise<FeedPage> {
    const url = new URL(endpoint);
    url.searchParams.set('since', since);
    url.searchParams.set('limit', String(pageSize));
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    unref(deadline);
    try {
      let response: Response;
      try {
        response = await fetchImpl(url, {
          headers: { authorization, accept: 'application/json' },
          // Never follow: a redirect would carry the admin key to wherever it points.
          redirect: 'manual',
          signal: controller.signal,
        });
      } catch (cause) {
        if (timedOut) throw new RevocationFeedError('timeout', `no answer within ${timeoutMs} ms`, { cause });
        if (controller.signal.aborted) throw new RevocationFeedError('stopped', 'the feed was stopped');
        throw new RevocationFeedError('network', 'the revocation feed could not be reached', { cause });
      }
      if (!response.ok) {
        // Drain the body so the connection can be reused; its content is not needed.
        response.body?.cancel().catch(() => {});
        throw httpError(response.status);
      }
      let body: unknown;
      try {
        body = await response.json();
      } catch (cause) {
        if (timedOut) throw new RevocationFeedError('timeout', `no answer within ${timeoutMs} ms`, { cause });
        if (controller.signal.aborted) throw new RevocationFeedError('stopped', 'the feed was stopped');
        throw new RevocationFeedError('invalid_response', 'the feed answer is not JSON', { cause });
      }
      const page = parsePage(body);
      if (page === undefined) {
        throw new RevocationFeedError('invalid_response', 'the answer is not a gatepass revocation feed');
      }
      return page;
    } finally {
      clearTimeout(deadline);
    }
  }

  /** Pages until `more` is false. Changes are applied page by page, so progress survives a failure. */
  async function sync(controller: AbortController): Promise<void> {
    let requestedAt = now();
    for (;;) {
      const page = await fetchPage(cursor, controller);
      if (controller.signal.aborted) throw new RevocationFeedError('stopped', 'the feed was stopped');
      if (page.more && page.cursor === cursor) {
        throw new RevocationFeedError('invalid_response', 'the feed cursor did not advance');
      }
      const nowMs = now();
      for (const change of page.changes) apply(change, nowMs);
      cursor = page.cursor;
      if (!page.more) break;
      requestedAt = now();
    }
    // The list is current as of the last request's start: a conservative age for staleness.
    syncedAt = requestedAt;
    lastError = null;
    prune(now());
  }

  async function loop(current: number): Promise<void> {
    if (!running || current !== generation) return;
    const controller = new AbortController();
    inFlight = controller;
    let failure: RevocationFeedError | undefined;
    try {
      await sync(controller);
    } catch (error) {
      failure =
        error instanceof RevocationFeedError
          ? error
          : new RevocationFeedError('invalid_response', 'the feed answer could not be applied', {
              cause: error,
            });
    } finally {
      if (inFlight === controller) inFlight = undefined;
    }
    if (current !== generation) return;
    if (failure === undefined) {
      settleFirst?.resolve();
    } else {
      lastError = failure.code;
      report(failure);
      settleFirst?.reject(failure);
    }
    settleFirst = undefined;
    timer = setTimeout(() => {
      timer = undefined;
      void loop(current);
    }, pollIntervalMs);
    unref(timer);
  }

  function isStale(): boolean {
    return syncedAt === null || now() - syncedAt >= maxStalenessMs;
  }

  return {
    isRevoked: (jti) => revoked.has(jti),
    isStale,
    start() {
      if (running && firstSync !== undefined) return firstSync;
      running = true;
      const current = ++generation;
      firstSync = new Promise<void>((resolve, reject) => {
        settleFirst = { resolve, reject };
      });
      // Callers that ignore the promise must not see an unhandled rejection; the failure reached onError.
      firstSync.catch(() => {});
      void loop(current);
      return firstSync;
    },
    stop() {
      if (!running) return;
      running = false;
      generation++;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      inFlight?.abort();
      inFlight = undefined;
      settleFirst?.reject(new RevocationFeedError('stopped', 'the feed was stopped before its first sync'));
      settleFirst = undefined;
      firstSync = undefined;
    },
    subscribe(listener) {
      if (typeof listener !== 'function') throw new TypeError('listener must be a function');
      // Each subscription is its own entry, so subscribing one function twice needs two unsubscribes.
      const entry = (jti: string) => listener(jti);
      listeners.add(entry);
      return () => {
        listeners.delete(entry);
      };
    },
    status: () => ({ running, stale: isStale(), syncedAt, cursor, size: revoked.size, lastError }),
    get size() {
      return revoked.size;
    },
  };
}

interface FeedPage {
  changes: RevocationChange[];
  cursor: string;
  more: boolean;
}

/** The envelope's `result` as a feed page, or undefined when any part of it is not what gatepass sends. */
function parsePage(body: unknown): FeedPage | undefined {
  if (!isObject(body) || body.success !== true || !isObject(body.result)) return undefined;
  const { changes, cursor, more } = body.result;
  if (!Array.isArray(changes) || typeof cursor !== 'string' || cursor === '' || typeof more !== 'boolean') {
    return undefined;
  }
  const parsed: RevocationChange[] = [];
  for (const change of changes) {
    if (!isObject(change)) return undefined;
    const { jti, revoked, exp } = change;
    if (typeof jti !== 'string' || jti === '' || typeof revoked !== 'boolean') return undefined;
    if (exp !== null && (typeof exp !== 'number' || !Number.isFinite(exp))) return undefined;
    parsed.push({ jti, revoked, exp });
  }
  return { changes: parsed, cursor, more };
}

function httpError(status: number): RevocationFeedError {
  switch (status) {
    case 401:
      return new RevocationFeedError('unauthorized', 'the admin key was refused (401)', { status });
    case 403:
      return new RevocationFeedError('forbidden', 'the admin key may not read this broker (403)', { status });
    case 404:
      return new RevocationFeedError('not_found', 'no such broker for this admin key (404)', { status });
    default:
      return new RevocationFeedError('http_error', `the revocation feed answered ${status}`, { status });
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`${name} must be milliseconds > 0`);
  return value;
}

/** Node's timers can be told not to keep the process alive; other platforms' cannot, or need not. */
function unref(timer: unknown): void {
  (timer as { unref?: () => void } | undefined)?.unref?.();
}
