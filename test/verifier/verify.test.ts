import { CompactSign, exportJWK, exportSPKI, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  authorize,
  CONNECT_FAILURE_REASONS,
  type ConnectFailureReason,
  type ConnectInput,
  type ConnectResult,
  createLocalKeySource,
  createStaticRevocations,
  createVerifier,
  type KeySource,
  type VerifierOptions,
} from '../../src/verifier/index.js';
import {
  AUDIENCE,
  b64json,
  ISSUER,
  jwks,
  makeKey,
  newJti,
  T0,
  T0_SECONDS,
  type TestKey,
  type TokenOptions,
  token,
} from './fixtures.js';

let ed: TestKey;
let es: TestKey;
let other: TestKey;

beforeAll(async () => {
  [ed, es, other] = await Promise.all([makeKey('EdDSA'), makeKey('ES256'), makeKey('EdDSA')]);
});

function expectRefused(result: ConnectResult, reason: ConnectFailureReason): void {
  expect(result).toEqual({ ok: false, reason });
}

interface Harness {
  verifier: ReturnType<typeof createVerifier>;
  clock: { now: number };
  revocations: ReturnType<typeof createStaticRevocations>;
  getKeyCalls: () => number;
}

/** A verifier over ed and es with a frozen clock, a mutable revocation set and a counting key source. */
function harness(
  overrides: Partial<VerifierOptions> = {},
  trusted: (kid: string) => boolean = () => true,
): Harness {
  const clock = { now: T0 };
  const revocations = createStaticRevocations();
  const local = createLocalKeySource(jwks(ed, es), { algorithms: ['EdDSA', 'ES256'] });
  let calls = 0;
  const keys: KeySource = {
    getKey: (kid) => {
      calls++;
      return local.getKey(kid);
    },
    isTrusted: (kid) => trusted(kid) && local.isTrusted(kid),
  };
  const verifier = createVerifier({
    keys,
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ['EdDSA', 'ES256'],
    revocations,
    now: () => clock.now,
    ...overrides,
  });
  return { verifier, clock, revocations, getKeyCalls: () => calls };
}

describe('verifyConnect accepts', () => {
  it.each(['EdDSA', 'ES256'] as const)('a valid %s credential, returning the session', async (alg) => {
    const key = alg === 'EdDSA' ? ed : es;
    const { verifier } = harness();
    const jti = newJti();
    const result = await verifier.verifyConnect({
      clientId: 'sensor-17',
      username: 'sensor-17',
      password: await token(key, { claims: { jti } }),
    });
    expect(result).toMatchObject({ ok: true, clientId: 'sensor-17', jti, expiresAt: T0_SECONDS + 3600 });
    if (!result.ok) return;
    expect(result.assignedClientId).toBeUndefined();
    expect(result.claims).toEqual({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: 'sensor-17',
      jti,
      iat: T0_SECONDS,
      exp: T0_SECONDS + 3600,
      topicAcl: { pub: ['plant/line-3/#'], sub: ['plant/commands/sensor-17'] },
    });
    expect(authorize(result, 'publish', 'plant/line-3/temperature')).toEqual({ ok: true });
    expect(authorize(result, 'publish', 'plant/line-4/temperature')).toEqual({
      ok: false,
      reason: 'not_permitted',
    });
    expect(authorize(result, 'subscribe', 'plant/commands/sensor-17')).toEqual({ ok: true });
    expect(authorize(result, 'subscribe', 'plant/commands/+')).toEqual({
      ok: false,
      reason: 'not_permitted',
    });
  });

  it('the password as the raw bytes of the CONNECT packet', async () => {
    const { verifier } = harness();
    const password = new TextEncoder().encode(await token(ed));
    expect(await verifier.verifyConnect({ clientId: 'sensor-17', password })).toMatchObject({ ok: true });
  });

  it('an empty client id, assigning the token sub', async () => {
    const { verifier } = harness();
    const result = await verifier.verifyConnect({
      clientId: '',
      username: 'sensor-17',
      password: await token(ed),
    });
    expect(result).toMatchObject({ ok: true, clientId: 'sensor-17', assignedClientId: 'sensor-17' });
  });

  it('an absent or empty username', async () => {
    const { verifier } = harness();
    const password = await token(ed);
    expect(await verifier.verifyConnect({ clientId: 'sensor-17', password })).toMatchObject({ ok: true });
    expect(await verifier.verifyConnect({ clientId: 'sensor-17', username: '', password })).toMatchObject({
      ok: true,
    });
  });

  it("the topic ACL '#', and a credential without exp", async () => {
    const { verifier } = harness();
    const password = await token(ed, { claims: { topicAcl: '#' }, omit: ['exp'] });
    const result = await verifier.verifyConnect({ clientId: 'sensor-17', password });
    expect(result).toMatchObject({ ok: true, expiresAt: null });
    if (!result.ok) return;
    expect(authorize(result, 'subscribe', '#').ok).toBe(true);
    expect(authorize(result, 'subscribe', '$SYS/#').ok).toBe(false);
  });

  it('times within the clock tolerance', async () => {
    const { verifier, clock } = harness({ clockTolerance: 5, cache: false });
    const password = await token(ed, { claims: { iat: T0_SECONDS + 5, nbf: T0_SECONDS + 5 } });
    expect(await verifier.verifyConnect({ clientId: 'sensor-17', password })).toMatchObject({ ok: true });
    clock.now = T0 + (3600 + 4) * 1000;
    expect(await verifier.verifyConnect({ clientId: 'sensor-17', password })).toMatchObject({ ok: true });
  });

  it('the orig_iat of a refreshed credential, keeping it', async () => {
    const { verifier } = harness();
    const password = await token(ed, { claims: { orig_iat: T0_SECONDS - 86_400 } });
    const result = await verifier.verifyConnect({ clientId: 'sensor-17', password });
    expect(result.ok && result.claims.orig_iat).toBe(T0_SECONDS - 86_400);
  });

  it('unknown claims, dropping them', async () => {
    const { verifier } = harness();
    const password = await token(ed, { claims: { extra: 'x' } });
    const result = await verifier.verifyConnect({ clientId: 'sensor-17', password });
    expect(result.ok && 'extra' in result.claims).toBe(false);
  });
});

describe('verifyConnect refuses', () => {
  it('a missing or empty password', async () => {
    const { verifier } = harness();
    expectRefused(await verifier.verifyConnect({ clientId: 'sensor-17' }), 'missing_password');
    expectRefused(await verifier.verifyConnect({ clientId: 'sensor-17', password: '' }), 'missing_password');
    expectRefused(
      await verifier.verifyConnect({ clientId: 'sensor-17', password: new Uint8Array() }),
      'missing_password',
    );
  });

  it('a password over 4,096 bytes', async () => {
    const { verifier } = harness();
    const long = `${'a'.repeat(4000)}.${'b'.repeat(48)}.${'c'.repeat(48)}`;
    expectRefused(await verifier.verifyConnect({ clientId: 'x', password: long }), 'too_large');
    expectRefused(
      await verifier.verifyConnect({ clientId: 'x', password: new TextEncoder().encode(long) }),
      'too_large',
    );
    // 2,000 characters, 6,000 bytes.
    expectRefused(await verifier.verifyConnect({ clientId: 'x', password: '€'.repeat(2000) }), 'too_large');
  });

  it.each([
    ['not a JWS', 'hello'],
    ['two segments', 'a.b'],
    ['four segments', 'a.b.c.d'],
    ['an empty segment', 'a..c'],
    ['an empty signature', 'a.b.'],
    ['non-base64url characters', 'a+b.c.d'],
    ['non-ASCII', 'é.b.c'],
    ['a header that is not JSON', `${Buffer.from('{oops').toString('base64url')}.e30.c2ln`],
    ['a header that is not an object', `${b64json([1])}.e30.c2ln`],
    ['an impossible base64url length', 'a.e30.c2ln'],
    ['a non-canonical base64url segment (stray bits after the last byte)', 'e31.e30.c2ln'],
  ])('a malformed token: %s', async (_name, password) => {
    const { verifier } = harness();
    expectRefused(await verifier.verifyConnect({ clientId: 'sensor-17', password }), 'malformed');
  });

  it('a genuinely signed payload that is not a JSON object', async () => {
    const { verifier } = harness();
    const sign = (payload: string) =>
      new CompactSign(new TextEncoder().encode(payload))
        .setProtectedHeader({ alg: 'EdDSA', kid: ed.kid, typ: 'JWT' })
        .sign(ed.privateKey);
    for (const payload of ['not json', '[1,2]', 'null', '"s"']) {
      expectRefused(
        await verifier.verifyConnect({ clientId: 'sensor-17', password: await sign(payload) }),
        'malformed',
      );
    }
  });

  it("alg 'none', with or without a signature", async () => {
    const { verifier } = harness();
    const unsecured = `${b64json({ alg: 'none', typ: 'JWT', kid: ed.kid })}.${b64json({ sub: 'sensor-17' })}`;
    expectRefused(
      await verifier.verifyConnect({ clientId: 'sensor-17', password: `${unsecured}.` }),
      'malformed',
    );
    expectRefused(
      await verifier.verifyConnect({ clientId: 'sensor-17', password: `${unsecured}.c2ln` }),
      'algorithm_not_allowed',
    );
  });

  it('HS256 signed with the public key (algorithm confusion)', async () => {
    const { verifier } = harness();
    const jwk = await exportJWK(es.publicKey);
    const secrets = [
      new TextEncoder().encode(await exportSPKI(es.publicKey)),
      new TextEncoder().encode(JSON.stringify(jwk)),
      Buffer.from(jwk.x!, 'base64url'),
    ];
    for (const secret of secrets) {
      const forged = await new SignJWT({ sub: 'sensor-17', topicAcl: '#' })
        .setProtectedHeader({ alg: 'HS256', kid: es.kid, typ: 'JWT' })
        .sign(secret);
      expectRefused(
        await verifier.verifyConnect({ clientId: 'sensor-17', password: forged }),
        'algorithm_not_allowed',
      );
    }
  });

  it('an algorithm outside the pinned list', async () => {
    const { verifier } = harness({ algorithms: ['EdDSA'] });
    expectRefused(
      await verifier.verifyConnect({ clientId: 'sensor-17', password: await token(es) }),
      'algorithm_not_allowed',
    );
  });

  it('an algorithm other than the one the kid is published for', async () => {
    const { verifier } = harness();
    // Signed by the ES256 key but naming the EdDSA key's kid.
    const password = await token(es, { header: { kid: ed.kid } });
    expectRefused(await verifier.verifyConnect({ clientId: 'sensor-17', password }), 'algorithm_not_allowed');
  });

  it('a crit header', async () => {
    const { verifier } = harness();
    const password = await token(ed, { header: { crit: ['x-ext'], 'x-ext': 1 }, crit: { 'x-ext': true } });
    expectRefused(await verifier.verifyConnect({ clientId: 'sensor-17', password }), 'critical_header');
  });

  it.each([['at+jwt'], ['jwt'], [undefined]])('typ %j', async (typ) => {
    const { verifier } = harness();
    const password = await token(ed, { header: { typ } });
    expectRefused(await verifier.verifyConnect({ clientId: 'sensor-17', password }), 'wrong_type');
  });

  it('a kid that is absent or not configured', async () => {
    const { verifier } = harness();
    for (const kid of [undefined, '', 'nope', 42]) {
      const password = await token(ed, { header: { kid } });
      expectRefused(await verifier.verifyConnect({ clientId: 'sensor-17', password }), 'unknown_key');
    }
    expectRefused(
      await verifier.verifyConnect({ clientId: 'sensor-17', password: await token(other) }),
      'unknown_key',
    );
  });

  it('a signature by another key under a trusted kid', async () => {
    const { verifier } = harness();
    const password = await token(ed, { signWith: other.privateKey });
    expectRefused(await verifier.verifyConnect({ clientId: 'sensor-17', password }), 'bad_signature');
  });

  it('an ES256 signature of the wrong length', async () => {
    const { verifier } = harness();
    const [header, payload, signature] = (await token(es)).split('.');
    for (const bad of [signature!.slice(0, 44), `${signature}AAAA`]) {
      expectRefused(
        await verifier.verifyConnect({ clientId: 'sensor-17', password: `${header}.${payload}.${bad}` }),
        'bad_signature',
      );
    }
  });

  it('a tampered payload', async () => {
    const { verifier } = harness();
    const [header, , signature] = (await token(ed)).split('.');
    const payload = b64json({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: 'sensor-17',
      jti: newJti(),
      iat: T0_SECONDS,
      topicAcl: '#',
    });
    expectRefused(
      await verifier.verifyConnect({ clientId: 'sensor-17', password: `${header}.${payload}.${signature}` }),
      'bad_signature',
    );
  });

  it('embedded jwk, jku, x5u and x5c headers: keys come from the configuration only', async () => {
    const { verifier } = harness();
    const attackerJwk = { ...other.publicJwk, kid: ed.kid };
    const password = await token(ed, {
      signWith: other.privateKey,
      header: {
        jwk: attackerJwk,
        jku: 'https://attacker.test/jwks',
        x5u: 'https://attacker.test/x5u',
        x5c: ['AAAA'],
      },
    });
    expectRefused(await verifier.verifyConnect({ clientId: 'sensor-17', password }), 'bad_signature');
    // The same headers on a token the configured key did sign change nothing.
    const genuine = await token(ed, { header: { jwk: attackerJwk, jku: 'https://attacker.test/jwks' } });
    expect(await verifier.verifyConnect({ clientId: 'sensor-17', password: genuine })).toMatchObject({
      ok: true,
    });
  });

  it('another issuer', async () => {
    const { verifier } = harness();
    for (const iss of ['https://evil.test', undefined, 7]) {
      const password = await token(ed, { claims: { iss } });
      expectRefused(await verifier.verifyConnect({ clientId: 'sensor-17', password }), 'wrong_issuer');
    }
  });

  it('another audience, an audience list, or none', async () => {
    const { verifier } = harness();
    for (const aud of ['plant-2', [AUDIENCE], undefined]) {
      const password = await token(ed, { claims: { aud } });
      expectRefused(await verifier.verifyConnect({ clientId: 'sensor-17', password }), 'wrong_audience');
    }
  });

  it.each([
    ['no sub', { omit: ['sub'] }],
    ['an empty sub', { claims: { sub: '' } }],
    ['a sub longer than 256 characters', { claims: { sub: 'x'.repeat(257) } }],
    ['a sub with a slash', { claims: { sub: 'a/b' } }],
    ['a sub with a wildcard', { claims: { sub: 'a+b' } }],
    ["a sub starting with '$'", { claims: { sub: '$SYS' } }],
    ['a sub with a space', { claims: { sub: 'a b' } }],
    ['a sub with U+0000', { claims: { sub: 'a\u0000' } }],
    ['a non-ASCII sub', { claims: { sub: 'josé' } }],
    ['no jti', { omit: ['jti'] }],
    ['an empty jti', { claims: { jti: '' } }],
    ['no iat', { omit: ['iat'] }],
    ['a string iat', { claims: { iat: String(T0_SECONDS) } }],
    ['a string exp', { claims: { exp: String(T0_SECONDS + 60) } }],
    ['a string nbf', { claims: { nbf: 'soon' } }],
    ['a string orig_iat', { claims: { orig_iat: 'then' } }],
    ['no topicAcl', { omit: ['topicAcl'] }],
    ['an invalid filter', { claims: { topicAcl: { pub: ['a/#/b'], sub: [] } } }],
    ['a topicAcl with extra keys', { claims: { topicAcl: { pub: [], sub: [], both: [] } } }],
    ['a topicAcl other than #', { claims: { topicAcl: '+' } }],
  ])('invalid claims: %s', async (_name, options) => {
    const { verifier } = harness();
    const password = await token(ed, options);
    expectRefused(await verifier.verifyConnect({ clientId: 'sensor-17', password }), 'invalid_claims');
  });

  it('an expired credential', async () => {
    const { verifier, clock } = harness({ clockTolerance: 5 });
    const password = await token(ed, { claims: { exp: T0_SECONDS - 5 } });
    expectRefused(await verifier.verifyConnect({ clientId: 'sensor-17', password }), 'expired');
    clock.now = T0 + 3605 * 1000;
    expectRefused(
      await verifier.verifyConnect({ clientId: 'sensor-17', password: await token(ed) }),
      'expired',
    );
  });

  it('a credential not yet valid, or issued in the future', async () => {
    const { verifier } = harness({ clockTolerance: 5 });
    const early = await token(ed, { claims: { nbf: T0_SECONDS + 6 } });
    expectRefused(await verifier.verifyConnect({ clientId: 'sensor-17', password: early }), 'not_yet_valid');
    const future = await token(ed, { claims: { iat: T0_SECONDS + 3600 } });
    expectRefused(await verifier.verifyConnect({ clientId: 'sensor-17', password: future }), 'not_yet_valid');
  });

  it('a revoked credential', async () => {
    const { verifier, revocations } = harness();
    const jti = newJti();
    revocations.add(jti);
    const password = await token(ed, { claims: { jti } });
    expectRefused(await verifier.verifyConnect({ clientId: 'sensor-17', password }), 'revoked');
  });

  it('a client id other than the token sub', async () => {
    const { verifier } = harness();
    const password = await token(ed);
    expectRefused(await verifier.verifyConnect({ clientId: 'sensor-18', password }), 'client_id_mismatch');
  });

  it('a username other than the effective client id', async () => {
    const { verifier } = harness();
    const password = await token(ed);
    expectRefused(
      await verifier.verifyConnect({ clientId: 'sensor-17', username: 'admin', password }),
      'username_mismatch',
    );
    expectRefused(
      await verifier.verifyConnect({ clientId: '', username: 'admin', password }),
      'username_mismatch',
    );
  });

  it('everything when the key set cannot be fetched', async () => {
    const verifier = createVerifier({
      keys: 'https://gatepass.test/v1/namespaces/acme/brokers/plant-1/publickeys',
      fetch: () => Promise.reject(new Error('connection refused')),
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['EdDSA'],
      revocations: createStaticRevocations(),
      now: () => T0,
    });
    expectRefused(
      await verifier.verifyConnect({ clientId: 'sensor-17', password: await token(ed) }),
      'keys_unavailable',
    );
  });
});

describe('the reconnect-storm cache', () => {
  it('verifies a repeated token once', async () => {
    const { verifier, getKeyCalls } = harness();
    const password = await token(ed);
    for (let i = 0; i < 5; i++) {
      expect(await verifier.verifyConnect({ clientId: 'sensor-17', password })).toMatchObject({ ok: true });
    }
    expect(getKeyCalls()).toBe(1);
  });

  it('returns frozen claims that callers cannot poison', async () => {
    const { verifier } = harness();
    const password = await token(ed);
    const first = await verifier.verifyConnect({ clientId: 'sensor-17', password });
    if (!first.ok) throw new Error('expected success');
    expect(Object.isFrozen(first.claims)).toBe(true);
    expect(Object.isFrozen(first.claims.topicAcl)).toBe(true);
    expect(() => {
      (first.claims as { sub: string }).sub = 'other';
    }).toThrow(TypeError);
  });

  it('still checks revocation on a hit', async () => {
    const { verifier, revocations, getKeyCalls } = harness();
    const jti = newJti();
    const password = await token(ed, { claims: { jti } });
    expect(await verifier.verifyConnect({ clientId: 'sensor-17', password })).toMatchObject({ ok: true });
    revocations.add(jti);
    expectRefused(await verifier.verifyConnect({ clientId: 'sensor-17', password }), 'revoked');
    expect(getKeyCalls()).toBe(1);
  });

  it('still checks expiry on a hit', async () => {
    const { verifier, clock } = harness({ clockTolerance: 5 });
    const password = await token(ed, { claims: { exp: T0_SECONDS + 60 } });
    expect(await verifier.verifyConnect({ clientId: 'sensor-17', password })).toMatchObject({ ok: true });
    clock.now = T0 + 64_999;
    expect(await verifier.verifyConnect({ clientId: 'sensor-17', password })).toMatchObject({ ok: true });
    clock.now = T0 + 65_000;
    expectRefused(await verifier.verifyConnect({ clientId: 'sensor-17', password }), 'expired');
  });

  it('still checks the client binding on a hit', async () => {
    const { verifier, getKeyCalls } = harness();
    const password = await token(ed);
    expect(await verifier.verifyConnect({ clientId: 'sensor-17', password })).toMatchObject({ ok: true });
    expectRefused(await verifier.verifyConnect({ clientId: 'sensor-18', password }), 'client_id_mismatch');
    expectRefused(
      await verifier.verifyConnect({ clientId: 'sensor-17', username: 'root', password }),
      'username_mismatch',
    );
    expect(await verifier.verifyConnect({ clientId: '', password })).toMatchObject({
      ok: true,
      assignedClientId: 'sensor-17',
    });
    expect(getKeyCalls()).toBe(1);
  });

  it('drops a hit whose key is no longer trusted', async () => {
    let trusted = true;
    const { verifier, getKeyCalls } = harness({}, () => trusted);
    const password = await token(ed);
    expect(await verifier.verifyConnect({ clientId: 'sensor-17', password })).toMatchObject({ ok: true });
    trusted = false;
    // The key source here still resolves the key, so the token verifies again from scratch.
    expect(await verifier.verifyConnect({ clientId: 'sensor-17', password })).toMatchObject({ ok: true });
    expect(getKeyCalls()).toBe(2);
  });

  it('evicts beyond maxEntries, sparing tokens hit since (second chance)', async () => {
    const { verifier, getKeyCalls } = harness({ cache: { maxEntries: 2 } });
    const [a, b, c] = await Promise.all([token(ed), token(ed), token(ed)]);
    const connect = (password: string) => verifier.verifyConnect({ clientId: 'sensor-17', password });
    await connect(a);
    await connect(b);
    await connect(a); // a is hit, so spared once
    await connect(c); // evicts b
    expect(getKeyCalls()).toBe(3);
    await connect(a);
    await connect(c);
    expect(getKeyCalls()).toBe(3);
    await connect(b);
    expect(getKeyCalls()).toBe(4);
  });

  it('never lets a cached signature vouch for another header or payload', async () => {
    const { verifier } = harness();
    const password = await token(ed);
    expect(await verifier.verifyConnect({ clientId: 'sensor-17', password })).toMatchObject({ ok: true });
    const [, , signature] = password.split('.');
    const forged = `${b64json({ alg: 'EdDSA', kid: ed.kid, typ: 'JWT' })}.${b64json({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: 'sensor-17',
      jti: newJti(),
      iat: T0_SECONDS,
      topicAcl: '#',
    })}.${signature}`;
    expectRefused(await verifier.verifyConnect({ clientId: 'sensor-17', password: forged }), 'bad_signature');
  });

  it('does not cache refusals', async () => {
    const { verifier, getKeyCalls } = harness();
    const password = await token(ed, { signWith: other.privateKey });
    await verifier.verifyConnect({ clientId: 'sensor-17', password });
    await verifier.verifyConnect({ clientId: 'sensor-17', password });
    expect(getKeyCalls()).toBe(2);
  });

  it('can be disabled', async () => {
    const { verifier, getKeyCalls } = harness({ cache: false });
    const password = await token(ed);
    await verifier.verifyConnect({ clientId: 'sensor-17', password });
    await verifier.verifyConnect({ clientId: 'sensor-17', password });
    expect(getKeyCalls()).toBe(2);
  });
});

describe('lifetime limits (requireExpiry, maxTokenLifetime, maxTotalLifetime)', () => {
  const connect = (verifier: Harness['verifier'], password: string) =>
    verifier.verifyConnect({ clientId: 'sensor-17', password });

  it('refuses a token without exp when expiry is required, and accepts one with exp', async () => {
    const { verifier } = harness({ requireExpiry: true });
    expectRefused(await connect(verifier, await token(ed, { omit: ['exp'] })), 'missing_expiry');
    expect(await connect(verifier, await token(ed))).toMatchObject({ ok: true });
  });

  it('ends a token without exp at iat + maxTokenLifetime, cache hits included', async () => {
    const { verifier, clock, getKeyCalls } = harness({ maxTokenLifetime: 600, clockTolerance: 5 });
    const password = await token(ed, { omit: ['exp'] });
    expect(await connect(verifier, password)).toMatchObject({ ok: true, expiresAt: T0_SECONDS + 600 });
    clock.now = T0 + 604_999;
    expect(await connect(verifier, password)).toMatchObject({ ok: true });
    // Decided from the cache: the token was verified once.
    expect(getKeyCalls()).toBe(1);
    clock.now = T0 + 605_000;
    expectRefused(await connect(verifier, password), 'lifetime_exceeded');
  });

  it('ends a token issued for longer than maxTokenLifetime early, and leaves a shorter one alone', async () => {
    const { verifier, clock } = harness({ maxTokenLifetime: 600, cache: false });
    const long = await token(ed, { claims: { exp: T0_SECONDS + 86_400 } });
    const short = await token(ed, { claims: { exp: T0_SECONDS + 300 } });
    expect(await connect(verifier, long)).toMatchObject({ ok: true, expiresAt: T0_SECONDS + 600 });
    expect(await connect(verifier, short)).toMatchObject({ ok: true, expiresAt: T0_SECONDS + 300 });
    clock.now = T0 + 400_000;
    expectRefused(await connect(verifier, short), 'expired');
    expect(await connect(verifier, long)).toMatchObject({ ok: true });
    clock.now = T0 + 700_000;
    expectRefused(await connect(verifier, long), 'lifetime_exceeded');
  });

  it('counts maxTotalLifetime from orig_iat, or from iat for a token never refreshed', async () => {
    const { verifier, clock } = harness({ maxTotalLifetime: 86_400 });
    // Refreshed an hour ago from a chain that started 23.5 hours ago: half an hour left.
    const refreshed = await token(ed, {
      claims: { iat: T0_SECONDS - 3600, orig_iat: T0_SECONDS - 84_600, exp: T0_SECONDS + 7200 },
    });
    const fresh = await token(ed, { omit: ['exp'] });
    expect(await connect(verifier, refreshed)).toMatchObject({ ok: true, expiresAt: T0_SECONDS + 1800 });
    expect(await connect(verifier, fresh)).toMatchObject({ ok: true, expiresAt: T0_SECONDS + 86_400 });
    clock.now = T0 + 1806_000;
    expectRefused(await connect(verifier, refreshed), 'lifetime_exceeded');
    expect(await connect(verifier, fresh)).toMatchObject({ ok: true });
  });

  it('refuses a token already past its lifetime without caching it', async () => {
    const { verifier, getKeyCalls } = harness({ maxTokenLifetime: 60 });
    const password = await token(ed, { claims: { iat: T0_SECONDS - 3600 } });
    expectRefused(await connect(verifier, password), 'lifetime_exceeded');
    expectRefused(await connect(verifier, password), 'lifetime_exceeded');
    expect(getKeyCalls()).toBe(2);
  });

  it.each([
    ['requireExpiry that is not a boolean', { requireExpiry: 'yes' }],
    ['a zero maxTokenLifetime', { maxTokenLifetime: 0 }],
    ['a negative maxTotalLifetime', { maxTotalLifetime: -1 }],
    ['an infinite maxTokenLifetime', { maxTokenLifetime: Number.POSITIVE_INFINITY }],
  ])('throws on %s', (_name, override) => {
    expect(() => harness(override as Partial<VerifierOptions>)).toThrow(TypeError);
  });
});

describe('createVerifier options', () => {
  const base = (): VerifierOptions => ({
    keys: jwks(ed),
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ['EdDSA'],
    revocations: createStaticRevocations(),
  });

  it.each([
    ['no algorithms', { algorithms: [] }],
    ["'none'", { algorithms: ['none'] }],
    ['HS256', { algorithms: ['HS256'] }],
    ['RS256', { algorithms: ['EdDSA', 'RS256'] }],
    ['an empty issuer', { issuer: '' }],
    ['an empty audience', { audience: '' }],
    ['no revocation source', { revocations: undefined }],
    ['a negative clock tolerance', { clockTolerance: -1 }],
    ['a zero-sized cache', { cache: { maxEntries: 0 } }],
    ['a JWKS without keys', { keys: { keys: [] } }],
    ['a JWKS with keys for other algorithms only', () => ({ keys: jwks(es) })],
    ['a key set that is no JWKS', { keys: { nope: [] } }],
    ['a key URL that is not http(s)', { keys: 'file:///etc/jwks.json' }],
  ])('throw on %s', (_name, override) => {
    // Keys exist only once beforeAll has run, so some overrides are built lazily.
    const options = typeof override === 'function' ? override() : override;
    expect(() => createVerifier({ ...base(), ...(options as Partial<VerifierOptions>) })).toThrow(TypeError);
  });

  it('use Date.now by default', async () => {
    const verifier = createVerifier(base());
    const now = Math.floor(Date.now() / 1000);
    const password = await token(ed, { claims: { iat: now, exp: now + 60 } });
    expect(await verifier.verifyConnect({ clientId: 'sensor-17', password })).toMatchObject({ ok: true });
  });
});

describe('every reason', () => {
  const keyNamed = { ed: () => ed, es: () => es, other: () => other };
  /** A CONNECT as sensor-17 with a fresh token; keys are looked up by name, as they exist only at run time. */
  const connectWith =
    (options: TokenOptions = {}, key: keyof typeof keyNamed = 'ed', input: Partial<ConnectInput> = {}) =>
    async (h: Harness) =>
      h.verifier.verifyConnect({
        clientId: 'sensor-17',
        password: await token(keyNamed[key](), options),
        ...input,
      });

  // A Record, so adding a reason without a scenario here fails the typecheck.
  const scenarios: Record<ConnectFailureReason, (h: Harness) => Promise<ConnectResult>> = {
    missing_password: (h) => h.verifier.verifyConnect({ clientId: 'sensor-17' }),
    too_large: (h) => h.verifier.verifyConnect({ clientId: 'sensor-17', password: 'a'.repeat(4097) }),
    malformed: (h) => h.verifier.verifyConnect({ clientId: 'sensor-17', password: 'a.b' }),
    algorithm_not_allowed: (h) => connectWith({ header: { kid: ed.kid } }, 'es')(h),
    critical_header: connectWith({ header: { crit: ['x-ext'], 'x-ext': 1 }, crit: { 'x-ext': true } }),
    wrong_type: connectWith({ header: { typ: 'at+jwt' } }),
    unknown_key: connectWith({}, 'other'),
    keys_unavailable: (h) =>
      connectWith()({
        ...h,
        verifier: createVerifier({
          keys: 'http://127.0.0.1:9/publickeys',
          fetch: () => Promise.resolve(new Response('busy', { status: 503 })),
          issuer: ISSUER,
          audience: AUDIENCE,
          algorithms: ['EdDSA'],
          revocations: createStaticRevocations(),
          now: () => T0,
        }),
      }),
    bad_signature: (h) => connectWith({ signWith: other.privateKey })(h),
    wrong_issuer: connectWith({ claims: { iss: 'x' } }),
    wrong_audience: connectWith({ claims: { aud: 'x' } }),
    invalid_claims: connectWith({ omit: ['topicAcl'] }),
    expired: connectWith({ claims: { exp: T0_SECONDS - 60 } }),
    missing_expiry: (h) =>
      connectWith({ omit: ['exp'] })({ ...h, verifier: harness({ requireExpiry: true }).verifier }),
    lifetime_exceeded: (h) =>
      connectWith({ claims: { iat: T0_SECONDS - 120 } })({
        ...h,
        verifier: harness({ maxTokenLifetime: 60 }).verifier,
      }),
    not_yet_valid: connectWith({ claims: { nbf: T0_SECONDS + 60 } }),
    revoked: (h) => {
      const jti = newJti();
      h.revocations.add(jti);
      return connectWith({ claims: { jti } })(h);
    },
    revocations_unavailable: (h) =>
      connectWith()({
        ...h,
        verifier: harness({ revocations: { isRevoked: () => false, isStale: () => true } }).verifier,
      }),
    client_id_mismatch: connectWith({}, 'ed', { clientId: 'sensor-99' }),
    username_mismatch: connectWith({}, 'ed', { username: 'sensor-99' }),
  };

  it.each(CONNECT_FAILURE_REASONS)('%s is reachable', async (reason) => {
    expectRefused(await scenarios[reason](harness()), reason);
  });
});

describe('client ids gatepass issues', () => {
  it.each([
    ['a 26-character ULID, as gatepass generates them', '01JDX4Q3N8T7K9ZC5V2M6B1R0A'],
    ['a UUID', '3f2b8c1e-9d4a-4b7e-8f21-6c0a5e9d7b13'],
    ['an e-mail address', 'jane.doe@example.com'],
    ['an Auth0 subject', 'google-oauth2|104729305566321180219'],
    ['a URN', 'urn:dev:7'],
    ['256 characters, the longest any broker issues', 'x'.repeat(256)],
  ])('accepts %s as sub', async (_, clientId) => {
    const { verifier } = harness();
    const password = await token(ed, { claims: { sub: clientId } });
    const result = await verifier.verifyConnect({ clientId, password });
    expect(result.ok).toBe(true);
  });
});
