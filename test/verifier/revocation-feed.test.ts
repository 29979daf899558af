import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  connackCode,
  createRevocationFeed,
  createVerifier,
  type RevocationChange,
  type RevocationFeed,
  RevocationFeedError,
  type RevocationFeedOptions,
} from '../../src/verifier/index.js';
import { AUDIENCE, ISSUER, jwks, makeKey, newJti, T0, T0_SECONDS, type TestKey, token } from './fixtures.js';

const URL_ = 'https://gatepass.test/v1/namespaces/acme/brokers/plant-1/revocations';
const TOKEN = 'gpk_feed-test-read-key-0123456789';

/** gatepass's feed, in memory: events in order, answered as the route does (envelope, cursor, more). */
class FakeFeed {
  events: { seq: number; jti: string; revoked: boolean; exp: number | null }[] = [];
  requests: URL[] = [];
  /** When set, answers this instead of the feed (a status, a thrown error, or a body). */
  fault: { status?: number; throws?: Error; body?: unknown; hang?: boolean } | undefined;

  revoke(jti: string, exp: number | null = null) {
    this.events.push({ seq: this.events.length + 1, jti, revoked: true, exp });
  }

  unrevoke(jti: string) {
    this.events.push({ seq: this.events.length + 1, jti, revoked: false, exp: null });
  }

  fetch: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    this.requests.push(url);
    expect(new Headers(init?.headers).get('authorization')).toBe(`Bearer ${TOKEN}`);
    expect(init?.redirect).toBe('manual');
    const fault = this.fault;
    if (fault?.hang) {
      return new Promise<Response>((_, reject) =>
        init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))),
      );
    }
    if (fault?.throws) throw fault.throws;
    if (fault?.status) return new Response('{}', { status: fault.status, headers: { location: '/x' } });
    if (fault?.body !== undefined) return Response.json(fault.body);
    const since = Number(url.searchParams.get('since'));
    const limit = Number(url.searchParams.get('limit') ?? 1000);
    const after = this.events.filter((event) => event.seq > since);
    const page = after.slice(0, limit);
    return Response.json({
      success: true,
      errors: [],
      messages: [],
      result: {
        changes: page.map(({ jti, revoked, exp }) => ({ jti, revoked, exp })),
        cursor: String(page.at(-1)?.seq ?? since),
        more: after.length > limit,
      },
    });
  };
}

const feeds: RevocationFeed[] = [];
afterEach(() => {
  for (const feed of feeds.splice(0)) feed.stop();
});

function setup(overrides: Partial<RevocationFeedOptions> = {}) {
  const server = new FakeFeed();
  const clock = { now: T0 };
  const feed = createRevocationFeed({
    url: URL_,
    token: TOKEN,
    fetch: server.fetch,
    pollIntervalMs: 10,
    maxStalenessMs: 60_000,
    now: () => clock.now,
    ...overrides,
  });
  feeds.push(feed);
  return { server, clock, feed };
}

/** Resolves once the feed has made `count` more requests and their answers were applied. */
async function requestsMade(server: FakeFeed, count: number) {
  const target = server.requests.length + count;
  await vi.waitFor(() => expect(server.requests.length).toBeGreaterThanOrEqual(target), { timeout: 2000 });
  // The answer is applied after the request was recorded: let it land.
  await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('createRevocationFeed', () => {
  it('syncs from the beginning, paging while more, before start resolves', async () => {
    const { server, feed } = setup({ pageSize: 2 });
    for (let i = 0; i < 5; i++) server.revoke(`jti-${i}`);
    expect(feed.isStale()).toBe(true);
    await feed.start();
    expect(
      server.requests.map((url) => [url.searchParams.get('since'), url.searchParams.get('limit')]),
    ).toEqual([
      ['0', '2'],
      ['2', '2'],
      ['4', '2'],
    ]);
    expect(feed.size).toBe(5);
    expect(feed.isRevoked('jti-4')).toBe(true);
    expect(feed.isRevoked('jti-5')).toBe(false);
    expect(feed.isStale()).toBe(false);
    expect(feed.status()).toEqual({
      running: true,
      stale: false,
      syncedAt: T0,
      cursor: '5',
      size: 5,
      lastError: null,
    });
  });

  it('follows revokes and un-revokes incrementally, announcing each newly revoked jti once', async () => {
    const changes: RevocationChange[] = [];
    const { server, feed } = setup({ onChange: (change) => changes.push(change) });
    server.revoke('a', T0_SECONDS + 3600);
    await feed.start();
    const announced: string[] = [];
    const unsubscribe = feed.subscribe((jti) => announced.push(jti));

    server.revoke('b');
    server.revoke('a', T0_SECONDS + 3600); // again: already in the list
    await requestsMade(server, 1);
    expect(feed.isRevoked('b')).toBe(true);
    expect(announced).toEqual(['b']);
    // Incremental: after the first sync, every request starts from the cursor it was given.
    expect(server.requests.slice(1).map((url) => url.searchParams.get('since'))).toContain('1');
    expect(server.requests.slice(1).map((url) => url.searchParams.get('since'))).not.toContain('0');

    server.unrevoke('a');
    await requestsMade(server, 1);
    expect(feed.isRevoked('a')).toBe(false);
    expect(announced).toEqual(['b']);

    unsubscribe();
    server.revoke('c');
    await requestsMade(server, 1);
    expect(feed.isRevoked('c')).toBe(true);
    expect(announced).toEqual(['b']);
    expect(changes.map(({ jti, revoked }) => `${revoked ? '+' : '-'}${jti}`)).toEqual([
      '+a',
      '+b',
      '+a',
      '-a',
      '+c',
    ]);
  });

  it('forgets revocations of long-expired tokens', async () => {
    const { server, clock, feed } = setup({ retainExpiredMs: 1000 });
    server.revoke('expired-long-ago', T0_SECONDS - 10);
    server.revoke('expires-soon', T0_SECONDS + 60);
    server.revoke('no-exp', null);
    await feed.start();
    expect(feed.isRevoked('expired-long-ago')).toBe(false);
    expect(feed.isRevoked('expires-soon')).toBe(true);
    expect(feed.size).toBe(2);

    // Past exp, but within retainExpiredMs: still held, so a verifier's clock tolerance cannot reopen it.
    clock.now = T0 + 60_500;
    await requestsMade(server, 1);
    expect(feed.isRevoked('expires-soon')).toBe(true);

    clock.now = T0 + 61_001 + 60_000;
    await requestsMade(server, 1);
    expect(feed.isRevoked('expires-soon')).toBe(false);
    expect(feed.isRevoked('no-exp')).toBe(true);
    expect(feed.size).toBe(1);
  });

  it('keeps the last list while the feed is unreachable, and goes stale after maxStalenessMs', async () => {
    const errors: string[] = [];
    const { server, clock, feed } = setup({
      maxStalenessMs: 30_000,
      onError: (error) => errors.push(error.code),
    });
    server.revoke('a');
    await feed.start();

    server.fault = { throws: new TypeError('fetch failed') };
    clock.now = T0 + 29_999;
    await requestsMade(server, 2);
    expect(feed.isRevoked('a')).toBe(true);
    expect(feed.isStale()).toBe(false);
    expect(feed.status().lastError).toBe('network');
    expect(errors[0]).toBe('network');

    clock.now = T0 + 30_000;
    expect(feed.isStale()).toBe(true);
    expect(feed.status()).toMatchObject({ stale: true, syncedAt: T0, lastError: 'network' });
    expect(feed.isRevoked('a')).toBe(true);

    server.fault = undefined;
    server.revoke('b');
    await requestsMade(server, 1);
    expect(feed.isStale()).toBe(false);
    expect(feed.status()).toMatchObject({ stale: false, lastError: null, size: 2 });
  });

  it.each([
    [{ status: 401 }, 'unauthorized'],
    [{ status: 403 }, 'forbidden'],
    [{ status: 404 }, 'not_found'],
    [{ status: 302 }, 'http_error'],
    [{ status: 503 }, 'http_error'],
    [{ throws: new TypeError('fetch failed') }, 'network'],
    [
      { body: { success: true, result: { changes: [{ jti: 1 }], cursor: '1', more: false } } },
      'invalid_response',
    ],
    [{ body: { success: true, result: { changes: [], cursor: '0', more: true } } }, 'invalid_response'],
    [{ body: { keys: [] } }, 'invalid_response'],
  ] as const)('rejects start on %j with %s, and keeps retrying', async (fault, code) => {
    const { server, feed } = setup();
    server.fault = fault;
    server.revoke('a');
    const error = await feed.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RevocationFeedError);
    expect((error as RevocationFeedError).code).toBe(code);
    expect(String((error as Error).message)).not.toContain(TOKEN);
    expect(feed.isStale()).toBe(true);
    server.fault = undefined;
    await requestsMade(server, 1);
    expect(feed.isRevoked('a')).toBe(true);
    expect(feed.isStale()).toBe(false);
  });

  it('abandons a request after timeoutMs', async () => {
    const { server, feed } = setup({ timeoutMs: 20 });
    server.fault = { hang: true };
    await expect(feed.start()).rejects.toMatchObject({ code: 'timeout' });
  });

  it('stop abandons the request in flight, rejects a pending start and polls no more', async () => {
    const { server, feed } = setup();
    server.fault = { hang: true };
    const started = feed.start();
    await vi.waitFor(() => expect(server.requests.length).toBe(1));
    feed.stop();
    await expect(started).rejects.toMatchObject({ code: 'stopped' });
    server.fault = undefined;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.requests.length).toBe(1);
    expect(feed.status().running).toBe(false);

    // start() again resumes from the kept cursor.
    server.revoke('a');
    await feed.start();
    expect(feed.isRevoked('a')).toBe(true);
  });

  it('reports listeners that throw and goes on', async () => {
    const errors: RevocationFeedError[] = [];
    const { server, feed } = setup({ onError: (error) => errors.push(error) });
    const seen: string[] = [];
    feed.subscribe(() => {
      throw new Error('boom');
    });
    feed.subscribe((jti) => seen.push(jti));
    server.revoke('a');
    server.revoke('b');
    await feed.start();
    expect(seen).toEqual(['a', 'b']);
    expect(errors.map((error) => error.code)).toEqual(['listener_failed', 'listener_failed']);
  });

  it.each<[string, Partial<RevocationFeedOptions>]>([
    ['a non-http URL', { url: 'file:///etc/passwd' }],
    ['an empty token', { token: '' }],
    ['a zero poll interval', { pollIntervalMs: 0 }],
    ['a staleness limit not above the poll interval', { pollIntervalMs: 5000, maxStalenessMs: 5000 }],
    ['a page size above 1,000', { pageSize: 1001 }],
    ['a negative retention', { retainExpiredMs: -1 }],
  ])('throws a TypeError on %s', (_, overrides) => {
    expect(() => createRevocationFeed({ url: URL_, token: TOKEN, ...overrides })).toThrow(TypeError);
  });
});

describe('a verifier on the feed', () => {
  let key: TestKey;
  beforeAll(async () => {
    key = await makeKey('EdDSA');
  });

  function verifierOn(feed: RevocationFeed, clock: { now: number }) {
    return createVerifier({
      keys: jwks(key),
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['EdDSA'],
      revocations: feed,
      now: () => clock.now,
    });
  }

  it('refuses with revocations_unavailable before the first sync and once stale, server unavailable on the wire', async () => {
    const { server, clock, feed } = setup({ maxStalenessMs: 30_000 });
    const verifier = verifierOn(feed, clock);
    const revokedJti = newJti();
    server.revoke(revokedJti);
    const password = await token(key);
    const revokedPassword = await token(key, { claims: { jti: revokedJti } });
    const connect = (pw: string) => verifier.verifyConnect({ clientId: 'sensor-17', password: pw });

    expect(await connect(password)).toEqual({ ok: false, reason: 'revocations_unavailable' });
    expect(connackCode('revocations_unavailable', 4)).toBe(0x03);
    expect(connackCode('revocations_unavailable', 5)).toBe(0x88);

    await feed.start();
    expect(await connect(password)).toMatchObject({ ok: true });
    expect(await connect(revokedPassword)).toEqual({ ok: false, reason: 'revoked' });

    server.fault = { status: 503 };
    clock.now = T0 + 30_000;
    // A cache hit is refused too, and a jti known to be revoked is still called revoked.
    expect(await connect(password)).toEqual({ ok: false, reason: 'revocations_unavailable' });
    expect(await connect(revokedPassword)).toEqual({ ok: false, reason: 'revoked' });

    server.fault = undefined;
    await requestsMade(server, 1);
    expect(await connect(password)).toMatchObject({ ok: true });
  });

  it('refuses a CONNECT as soon as the feed brings its revocation', async () => {
    const { server, clock, feed } = setup();
    const verifier = verifierOn(feed, clock);
    await feed.start();
    const jti = newJti();
    const password = await token(key, { claims: { jti } });
    expect(await verifier.verifyConnect({ clientId: 'sensor-17', password })).toMatchObject({ ok: true });
    server.revoke(jti, T0_SECONDS + 3600);
    await requestsMade(server, 1);
    expect(await verifier.verifyConnect({ clientId: 'sensor-17', password })).toEqual({
      ok: false,
      reason: 'revoked',
    });
  });

  it('rejects an isStale that is not a function', () => {
    expect(() =>
      createVerifier({
        keys: jwks(key),
        issuer: ISSUER,
        audience: AUDIENCE,
        algorithms: ['EdDSA'],
        revocations: { isRevoked: () => false, isStale: true } as never,
      }),
    ).toThrow(TypeError);
  });
});
