// The JWT attack corpus: one row an attack, each with the reason the verifier must refuse it for, and what
// the refresh endpoint (the service's own token-authenticated route) must answer. The tokens are built from
// real credentials a running gatepass issued (see attack-corpus.test.ts for the context they read).
import { createHmac } from 'node:crypto';
import type { JWK } from 'jose';
import type { ConnectFailureReason, ConnectInput } from '../../src/verifier/index.js';

/** What a row's attack is built from: genuine credentials of a real server, and keys an attacker holds. */
export interface CorpusContext {
  /** A genuine credential of home/sensors (EdDSA) for client `dev-1`: iat T0, exp T0 + 3600. */
  genuine: string;
  /** The same broker, client `dev-2`: a second genuine token to borrow parts from. */
  genuine2: string;
  /** home/sensors, client `dev-1`, issued with `expiration=60`. */
  shortLived: string;
  /** home/sensors, client `dev-1`, revoked through the API. */
  revoked: string;
  /** home/other (same namespace, another broker), client `dev-1`. */
  otherBroker: string;
  /** away/sensors (same broker name, another namespace), client `dev-1`. */
  otherNamespace: string;
  /** home/ec (ES256), client `dev-1`. */
  ec: string;
  /** home/sensors' signing key as published (kid, alg, x). */
  publicJwk: JWK & { kid: string; x: string };
  /** home/ec's signing key as published. */
  ecPublicJwk: JWK & { kid: string };
  /**
   * Signs exactly this header and payload text with home/sensors' own private key (unsealed from the
   * database with the key-encryption key): a token only an insider or an issuing bug could make, to show
   * that the checks after the signature hold on their own.
   */
  insiderSign(header: string, payload: string | Uint8Array): Promise<string>;
  /** The same with home/ec's private key (ES256). */
  insiderSignEc(header: string, payload: string | Uint8Array): Promise<string>;
  /** Keys the attacker made: Ed25519, P-256 and RSA pairs, public halves as JWKs with thumbprint kids. */
  attacker: Record<'ed' | 'es' | 'rsa', { privateKey: CryptoKey; jwk: JWK & { kid: string } }>;
  /** A server the attacker runs, counting requests: `jku` and `x5u` point here and must never be fetched. */
  attackerUrl: string;
}

/** Which verifier a row runs against, and so which broker its refresh goes to. */
export type CorpusTarget =
  /** home/sensors' verifier: its publickeys URL, `aud` sensors.home, EdDSA and ES256 both pinned. */
  | 'sensors'
  /** A verifier for home/sensors that trusts the keys of home/other and away/sensors too (a shared JWKS). */
  | 'combined'
  /** home/ec's verifier (ES256 key), EdDSA and ES256 both pinned. */
  | 'ec';

export interface AttackCase {
  group: string;
  name: string;
  /** The verifier's refusal. */
  reason: ConnectFailureReason;
  /**
   * POST .../credentials/refresh with the token: 401 `invalid_token`, 400 for what its body schema refuses
   * (not a compact JWS, over 8,192 characters), 413 over the body limit; null where it does not apply (a
   * CONNECT binding, raw bytes).
   */
  refresh: 401 | 400 | 413 | null;
  target: CorpusTarget;
  /** Seconds after T0 (the genuine tokens' iat) at which the verifier and the server judge. Default 10. */
  at: number;
  build(ctx: CorpusContext): Promise<ConnectInput> | ConnectInput;
}

// ---- building blocks

const utf8 = new TextEncoder();
export const b64 = (data: string | Uint8Array) =>
  Buffer.from(typeof data === 'string' ? utf8.encode(data) : data).toString('base64url');
const fromB64 = (segment: string) => new Uint8Array(Buffer.from(segment, 'base64url'));
export const parts = (token: string) => token.split('.') as [string, string, string];
export const decodeSegment = (segment: string) =>
  JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as Record<string, unknown>;
const json = (value: unknown) => JSON.stringify(value);

const payload = (token: string) => decodeSegment(parts(token)[1]);

/** The token with its header replaced, signature kept. */
const withHeader = (token: string, value: string) => {
  const [, p, s] = parts(token);
  return `${b64(value)}.${p}.${s}`;
};
/** The token with its payload replaced, signature kept. */
const withPayload = (token: string, value: string) => {
  const [h, , s] = parts(token);
  return `${h}.${b64(value)}.${s}`;
};
const withSignature = (token: string, signature: string) => {
  const [h, p] = parts(token);
  return `${h}.${p}.${signature}`;
};

const WEBCRYPTO: Record<string, AlgorithmIdentifier | EcdsaParams | RsaPssParams> = {
  EdDSA: { name: 'Ed25519' },
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
  RS256: { name: 'RSASSA-PKCS1-v1_5' },
};

/** A compact JWS over exactly this header and payload text, signed with `key` by WebCrypto. */
export async function signRaw(
  key: CryptoKey,
  alg: 'EdDSA' | 'ES256' | 'RS256',
  headerText: string,
  payloadData: string | Uint8Array,
): Promise<string> {
  const input = `${b64(headerText)}.${b64(payloadData)}`;
  const signature = await crypto.subtle.sign(WEBCRYPTO[alg]!, key, utf8.encode(input));
  return `${input}.${b64(new Uint8Array(signature))}`;
}

function hmacToken(secret: Uint8Array | string, alg: 'HS256' | 'HS384' | 'HS512', h: object, p: object) {
  const input = `${b64(json(h))}.${b64(json(p))}`;
  const mac = createHmac(`sha${alg.slice(2)}`, secret)
    .update(input)
    .digest();
  return `${input}.${b64(mac)}`;
}

/** An ES256 signature in ASN.1 DER (what OpenSSL emits), instead of JWS's raw r || s. */
function derSignature(raw: Uint8Array): Uint8Array {
  const integer = (bytes: Uint8Array) => {
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0) i++;
    const trimmed = bytes.slice(i);
    const value = trimmed[0]! & 0x80 ? Uint8Array.of(0, ...trimmed) : trimmed;
    return Uint8Array.of(0x02, value.length, ...value);
  };
  const body = Uint8Array.of(...integer(raw.slice(0, 32)), ...integer(raw.slice(32)));
  return Uint8Array.of(0x30, body.length, ...body);
}

/** Ed25519's group order: S + L verifies the same under a lax check (RFC 8032 §5.1.7 requires S < L). */
const ED25519_ORDER = 2n ** 252n + 27742317777372353535851937790883648493n;

function malleatedEd25519(signature: Uint8Array): Uint8Array {
  const s = signature.slice(32);
  let value = 0n;
  for (let i = 31; i >= 0; i--) value = (value << 8n) | BigInt(s[i]!);
  value += ED25519_ORDER;
  const out = new Uint8Array(64);
  out.set(signature.slice(0, 32));
  for (let i = 0; i < 32; i++) {
    out[32 + i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return out;
}

/** The next character of the base64url alphabet: the same 6 bits but the lowest one flipped. */
function nextBase64Character(c: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  return alphabet[(alphabet.indexOf(c) + 1) % 64]!;
}

/** A header as gatepass writes it, with `changes` on top (undefined deletes a member). */
function sensorsHeader(ctx: CorpusContext, changes: Record<string, unknown> = {}) {
  const value: Record<string, unknown> = { alg: 'EdDSA', kid: ctx.publicJwk.kid, typ: 'JWT', ...changes };
  for (const [key, member] of Object.entries(changes)) if (member === undefined) delete value[key];
  return json(value);
}

/** The genuine token's claims with `changes` on top (undefined deletes a claim). */
function sensorsClaims(ctx: CorpusContext, changes: Record<string, unknown> = {}) {
  const value: Record<string, unknown> = { ...payload(ctx.genuine), ...changes };
  for (const [key, member] of Object.entries(changes)) if (member === undefined) delete value[key];
  return json(value);
}

/** Insider-signed: the broker's real key over a header and claims with the given changes. */
const insider =
  (headerChanges: Record<string, unknown>, claimChanges: Record<string, unknown> = {}) =>
  async (ctx: CorpusContext): Promise<ConnectInput> => ({
    clientId: 'dev-1',
    password: await ctx.insiderSign(sensorsHeader(ctx, headerChanges), sensorsClaims(ctx, claimChanges)),
  });

const connect = (password: string | Uint8Array, clientId = 'dev-1'): ConnectInput => ({ clientId, password });

// ---- the corpus

export const ATTACK_CASES: AttackCase[] = [];

function attack(
  group: string,
  name: string,
  reason: ConnectFailureReason,
  refresh: AttackCase['refresh'],
  build: AttackCase['build'],
  options: { target?: CorpusTarget; at?: number } = {},
) {
  ATTACK_CASES.push({
    group,
    name,
    reason,
    refresh,
    build,
    target: options.target ?? 'sensors',
    at: options.at ?? 10,
  });
}

// -- alg: none (RFC 8725 §2.1, §3.1)
attack('alg none', 'alg none, empty signature', 'malformed', 400, (ctx) =>
  connect(`${b64(sensorsHeader(ctx, { alg: 'none' }))}.${parts(ctx.genuine)[1]}.`),
);
attack('alg none', 'alg none, the genuine signature kept', 'algorithm_not_allowed', 401, (ctx) =>
  connect(withHeader(ctx.genuine, sensorsHeader(ctx, { alg: 'none' }))),
);
attack('alg none', 'alg None (capitalised)', 'algorithm_not_allowed', 401, (ctx) =>
  connect(withHeader(ctx.genuine, sensorsHeader(ctx, { alg: 'None' }))),
);
attack('alg none', 'alg NONE', 'algorithm_not_allowed', 401, (ctx) =>
  connect(withHeader(ctx.genuine, sensorsHeader(ctx, { alg: 'NONE' }))),
);
attack('alg none', 'alg none without kid, claims widened to "#"', 'algorithm_not_allowed', 401, (ctx) =>
  connect(
    `${b64(json({ alg: 'none', typ: 'JWT' }))}.${b64(sensorsClaims(ctx, { topicAcl: '#', sub: 'admin' }))}.x`,
    'admin',
  ),
);
attack('alg none', 'no alg at all', 'algorithm_not_allowed', 401, (ctx) =>
  connect(withHeader(ctx.genuine, sensorsHeader(ctx, { alg: undefined }))),
);
attack('alg none', 'alg as a list ["EdDSA"]', 'algorithm_not_allowed', 401, (ctx) =>
  connect(withHeader(ctx.genuine, sensorsHeader(ctx, { alg: ['EdDSA'] }))),
);
attack('alg none', 'alg "" (empty)', 'algorithm_not_allowed', 401, (ctx) =>
  connect(withHeader(ctx.genuine, sensorsHeader(ctx, { alg: '' }))),
);

// -- algorithm confusion: HMAC keyed with the broker's public key (RFC 8725 §2.1)
const hmacAttack = (
  name: string,
  alg: 'HS256' | 'HS384' | 'HS512',
  secret: (ctx: CorpusContext) => Uint8Array | string,
) =>
  attack('algorithm confusion', name, 'algorithm_not_allowed', 401, (ctx) =>
    connect(
      hmacToken(
        secret(ctx),
        alg,
        { alg, kid: ctx.publicJwk.kid, typ: 'JWT' },
        JSON.parse(sensorsClaims(ctx, { topicAcl: '#' })),
      ),
    ),
  );
hmacAttack('HS256 keyed with the published JWK (JSON text)', 'HS256', (ctx) => json(ctx.publicJwk));
hmacAttack('HS256 keyed with the JWK without kid/alg/use', 'HS256', (ctx) =>
  json({ crv: ctx.publicJwk.crv, kty: ctx.publicJwk.kty, x: ctx.publicJwk.x }),
);
hmacAttack('HS256 keyed with the raw public key bytes (x decoded)', 'HS256', (ctx) =>
  fromB64(ctx.publicJwk.x),
);
hmacAttack('HS256 keyed with x as base64url text', 'HS256', (ctx) => ctx.publicJwk.x);
hmacAttack('HS384 keyed with the published JWK', 'HS384', (ctx) => json(ctx.publicJwk));
hmacAttack('HS512 keyed with the raw public key bytes', 'HS512', (ctx) => fromB64(ctx.publicJwk.x));
attack(
  'algorithm confusion',
  'HS256 keyed with the ES256 broker’s JWK',
  'algorithm_not_allowed',
  401,
  (ctx) =>
    connect(
      hmacToken(
        json(ctx.ecPublicJwk),
        'HS256',
        { alg: 'HS256', kid: ctx.ecPublicJwk.kid, typ: 'JWT' },
        { ...payload(ctx.ec), topicAcl: '#' },
      ),
    ),
  { target: 'ec' },
);
attack(
  'algorithm confusion',
  'RS256 with the broker’s kid, signed by an attacker RSA key',
  'algorithm_not_allowed',
  401,
  async (ctx) =>
    connect(
      await signRaw(
        ctx.attacker.rsa.privateKey,
        'RS256',
        sensorsHeader(ctx, { alg: 'RS256' }),
        sensorsClaims(ctx, { topicAcl: '#' }),
      ),
    ),
);
attack('algorithm confusion', 'PS256 header', 'algorithm_not_allowed', 401, (ctx) =>
  connect(withHeader(ctx.genuine, sensorsHeader(ctx, { alg: 'PS256' }))),
);
attack('algorithm confusion', 'ES256K header', 'algorithm_not_allowed', 401, (ctx) =>
  connect(withHeader(ctx.genuine, sensorsHeader(ctx, { alg: 'ES256K' }))),
);
attack('algorithm confusion', 'Ed25519 as the alg name', 'algorithm_not_allowed', 401, (ctx) =>
  connect(withHeader(ctx.genuine, sensorsHeader(ctx, { alg: 'Ed25519' }))),
);

// -- alg not matching the key type the kid names
attack(
  'alg/key mismatch',
  'ES256 header with the Ed25519 key’s kid, attacker P-256 signature',
  'algorithm_not_allowed',
  401,
  async (ctx) =>
    connect(
      await signRaw(
        ctx.attacker.es.privateKey,
        'ES256',
        sensorsHeader(ctx, { alg: 'ES256' }),
        sensorsClaims(ctx, { topicAcl: '#' }),
      ),
    ),
);
attack(
  'alg/key mismatch',
  'ES256 header with the Ed25519 key’s kid, genuine signature',
  'algorithm_not_allowed',
  401,
  (ctx) => connect(withHeader(ctx.genuine, sensorsHeader(ctx, { alg: 'ES256' }))),
);
attack(
  'alg/key mismatch',
  'EdDSA header with the P-256 key’s kid, attacker Ed25519 signature',
  'algorithm_not_allowed',
  401,
  async (ctx) =>
    connect(
      await signRaw(
        ctx.attacker.ed.privateKey,
        'EdDSA',
        json({ alg: 'EdDSA', kid: ctx.ecPublicJwk.kid, typ: 'JWT' }),
        json({ ...payload(ctx.ec), topicAcl: '#' }),
      ),
    ),
  { target: 'ec' },
);

// -- kid: unknown and injected values (the verifier looks kids up in a Map of the published keys)
const kidAttack = (
  name: string,
  kid: unknown | ((ctx: CorpusContext) => unknown),
  reason: ConnectFailureReason = 'unknown_key',
) =>
  attack('kid', name, reason, 401, async (ctx) =>
    connect(
      await signRaw(
        ctx.attacker.ed.privateKey,
        'EdDSA',
        sensorsHeader(ctx, { kid: typeof kid === 'function' ? kid(ctx) : kid }),
        sensorsClaims(ctx, { topicAcl: '#' }),
      ),
    ),
  );
kidAttack('no kid', undefined);
kidAttack('an empty kid', '');
kidAttack('a kid that is a number', 1);
kidAttack('a kid that is an object', { $ne: null });
kidAttack('a kid that is a list of the real kid', (ctx: CorpusContext) => [ctx.publicJwk.kid]);
kidAttack('the attacker’s own thumbprint', (ctx: CorpusContext) => ctx.attacker.ed.jwk.kid);
kidAttack('path traversal ../../../../etc/passwd', '../../../../etc/passwd');
kidAttack('path traversal to /dev/null', '/dev/null');
kidAttack('a file URL', 'file:///etc/passwd');
kidAttack("SQL: ' OR '1'='1", "' OR '1'='1");
kidAttack('SQL: a UNION SELECT', "x' UNION SELECT public_jwk FROM signing_keys--");
kidAttack('SQL: a stacked DROP TABLE', '1; DROP TABLE signing_keys; --');
kidAttack('__proto__', '__proto__');
kidAttack('constructor', 'constructor');
kidAttack('a NUL byte', 'k\u0000id');
kidAttack('the real kid with a trailing space', (ctx: CorpusContext) => `${ctx.publicJwk.kid} `);
kidAttack('the real kid in capitals', (ctx: CorpusContext) => ctx.publicJwk.kid.toUpperCase());
kidAttack('a 2,000-character kid', 'k'.repeat(2000));
kidAttack('a 4,000-character kid (over the size limit)', 'k'.repeat(4000), 'too_large');
attack('kid', 'the broker’s kid, signed by an attacker Ed25519 key', 'bad_signature', 401, async (ctx) =>
  connect(
    await signRaw(
      ctx.attacker.ed.privateKey,
      'EdDSA',
      sensorsHeader(ctx),
      sensorsClaims(ctx, { topicAcl: '#' }),
    ),
  ),
);

// -- another broker's or another namespace's token (issued by the same gatepass)
attack('cross-broker', 'a token of another broker in the namespace', 'unknown_key', 401, (ctx) =>
  connect(ctx.otherBroker),
);
attack('cross-broker', 'a token of the same-named broker in another namespace', 'unknown_key', 401, (ctx) =>
  connect(ctx.otherNamespace),
);
attack(
  'cross-broker',
  'another broker’s token, verifier trusting its key too',
  'wrong_audience',
  401,
  (ctx) => connect(ctx.otherBroker),
  { target: 'combined' },
);
attack(
  'cross-broker',
  'another namespace’s token, verifier trusting its key too',
  'wrong_audience',
  401,
  (ctx) => connect(ctx.otherNamespace),
  { target: 'combined' },
);
attack('cross-broker', 'the ES256 broker’s token at the EdDSA broker', 'unknown_key', 401, (ctx) =>
  connect(ctx.ec),
);
attack(
  'cross-broker',
  'another broker’s header and signature on this broker’s claims',
  'bad_signature',
  401,
  (ctx) => {
    const [h, , s] = parts(ctx.otherBroker);
    return connect(`${h}.${parts(ctx.genuine)[1]}.${s}`);
  },
  { target: 'combined' },
);

// -- time
attack('time', 'expired (exp an hour ago)', 'expired', 401, (ctx) => connect(ctx.shortLived), { at: 3600 });
attack(
  'time',
  'expired 6 s ago, just past the 5 s tolerance',
  'expired',
  401,
  (ctx) => connect(ctx.shortLived),
  {
    at: 66,
  },
);
attack('time', 'nbf an hour ahead', 'not_yet_valid', 401, async (ctx) =>
  insider({}, { nbf: (payload(ctx.genuine).iat as number) + 3600 })(ctx),
);
attack(
  'time',
  'iat ten years ahead',
  'not_yet_valid',
  401,
  insider({}, { iat: 2_100_000_000, exp: 2_200_000_000 }),
);
attack('time', 'iat a minute ahead', 'not_yet_valid', 401, async (ctx) =>
  insider({}, { iat: (payload(ctx.genuine).iat as number) + 70 })(ctx),
);
attack(
  'time',
  'a genuine token presented an hour before its iat',
  'not_yet_valid',
  401,
  (ctx) => connect(ctx.genuine),
  {
    at: -3600,
  },
);
attack('time', 'exp as a string', 'invalid_claims', 401, insider({}, { exp: '9999999999' }));
attack('time', 'exp 1e400 (Infinity once parsed)', 'invalid_claims', 401, async (ctx) =>
  connect(
    await ctx.insiderSign(
      sensorsHeader(ctx),
      sensorsClaims(ctx, { exp: 0 }).replace('"exp":0', '"exp":1e400'),
    ),
  ),
);
attack('time', 'nbf as a string', 'invalid_claims', 401, insider({}, { nbf: '0' }));
attack('time', 'iat missing', 'invalid_claims', 401, insider({}, { iat: undefined }));

// -- issuer, audience, type
attack(
  'iss/aud/typ',
  'iss of another issuer',
  'wrong_issuer',
  401,
  insider({}, { iss: 'https://evil.example' }),
);
attack('iss/aud/typ', 'iss missing', 'wrong_issuer', 401, insider({}, { iss: undefined }));
attack('iss/aud/typ', 'iss in capitals', 'wrong_issuer', 401, insider({}, { iss: 'GATEPASS' }));
attack('iss/aud/typ', 'iss with a trailing slash', 'wrong_issuer', 401, insider({}, { iss: 'gatepass/' }));
attack('iss/aud/typ', 'aud of another broker', 'wrong_audience', 401, insider({}, { aud: 'other.home' }));
attack('iss/aud/typ', 'aud missing', 'wrong_audience', 401, insider({}, { aud: undefined }));
attack(
  'iss/aud/typ',
  'aud as a list holding this broker',
  'wrong_audience',
  401,
  insider({}, { aud: ['sensors.home'] }),
);
attack(
  'iss/aud/typ',
  'aud as a list of this and another broker',
  'wrong_audience',
  401,
  insider(
    {},
    {
      aud: ['sensors.home', 'other.home'],
    },
  ),
);
attack('iss/aud/typ', 'typ at+jwt (an OAuth access token)', 'wrong_type', 401, insider({ typ: 'at+jwt' }));
attack('iss/aud/typ', 'typ missing', 'wrong_type', 401, insider({ typ: undefined }));
attack('iss/aud/typ', 'typ jwt (lowercase)', 'wrong_type', 401, insider({ typ: 'jwt' }));
attack('iss/aud/typ', 'typ application/jwt', 'wrong_type', 401, insider({ typ: 'application/jwt' }));
attack('iss/aud/typ', 'typ JWE', 'wrong_type', 401, insider({ typ: 'JWE' }));
attack('iss/aud/typ', 'typ at+jwt on a genuine token (header swapped)', 'wrong_type', 401, (ctx) =>
  connect(withHeader(ctx.genuine, sensorsHeader(ctx, { typ: 'at+jwt' }))),
);

// -- required claims
attack('claims', 'sub missing', 'invalid_claims', 401, insider({}, { sub: undefined }));
attack('claims', 'sub empty', 'invalid_claims', 401, insider({}, { sub: '' }));
attack('claims', 'jti missing', 'invalid_claims', 401, insider({}, { jti: undefined }));
attack('claims', 'topicAcl missing', 'invalid_claims', 401, insider({}, { topicAcl: undefined }));
attack(
  'claims',
  "topicAcl with a '#' inside a filter",
  'invalid_claims',
  401,
  insider(
    {},
    {
      topicAcl: { pub: ['a/#/b'], sub: [] },
    },
  ),
);
attack('claims', 'topicAcl "+" as the whole ACL', 'invalid_claims', 401, insider({}, { topicAcl: '+' }));

// -- tampering with a genuine token
attack('tampered', 'payload: sub changed to another client', 'bad_signature', 401, (ctx) =>
  connect(withPayload(ctx.genuine, sensorsClaims(ctx, { sub: 'dev-9' })), 'dev-9'),
);
attack('tampered', 'payload: topicAcl widened to "#"', 'bad_signature', 401, (ctx) =>
  connect(withPayload(ctx.genuine, sensorsClaims(ctx, { topicAcl: '#' }))),
);
attack('tampered', 'payload: exp pushed a year out', 'bad_signature', 401, (ctx) =>
  connect(withPayload(ctx.genuine, sensorsClaims(ctx, { exp: 2_000_000_000 }))),
);
attack('tampered', 'payload: the same claims re-serialised with spaces', 'bad_signature', 401, (ctx) =>
  connect(withPayload(ctx.genuine, JSON.stringify(payload(ctx.genuine), null, 1))),
);
attack('tampered', 'header: an extra member', 'bad_signature', 401, (ctx) =>
  connect(withHeader(ctx.genuine, sensorsHeader(ctx, { x: 1 }))),
);
attack('tampered', 'header: members reordered', 'bad_signature', 401, (ctx) =>
  connect(withHeader(ctx.genuine, json({ typ: 'JWT', kid: ctx.publicJwk.kid, alg: 'EdDSA' }))),
);
attack('tampered', 'another genuine token’s payload under this signature', 'bad_signature', 401, (ctx) => {
  const [h, , s] = parts(ctx.genuine);
  return connect(`${h}.${parts(ctx.genuine2)[1]}.${s}`, 'dev-2');
});
attack('tampered', 'header and payload swapped', 'algorithm_not_allowed', 401, (ctx) => {
  const [h, p, s] = parts(ctx.genuine);
  return connect(`${p}.${h}.${s}`);
});
attack('tampered', 'the signature of another genuine token', 'bad_signature', 401, (ctx) =>
  connect(withSignature(ctx.genuine, parts(ctx.genuine2)[2])),
);

// -- signatures of the wrong shape
attack('signature', 'truncated to 63 bytes', 'bad_signature', 401, (ctx) =>
  connect(withSignature(ctx.genuine, parts(ctx.genuine)[2].slice(0, 84))),
);
attack('signature', 'one byte appended (65 bytes)', 'bad_signature', 401, (ctx) =>
  connect(withSignature(ctx.genuine, b64(Uint8Array.of(...fromB64(parts(ctx.genuine)[2]), 0)))),
);
attack('signature', 'doubled (128 bytes)', 'bad_signature', 401, (ctx) =>
  connect(
    withSignature(
      ctx.genuine,
      b64(Uint8Array.of(...fromB64(parts(ctx.genuine)[2]), ...fromB64(parts(ctx.genuine)[2]))),
    ),
  ),
);
attack('signature', 'one byte', 'bad_signature', 401, (ctx) => connect(withSignature(ctx.genuine, 'AA')));
attack('signature', '64 zero bytes', 'bad_signature', 401, (ctx) =>
  connect(withSignature(ctx.genuine, b64(new Uint8Array(64)))),
);
attack('signature', 'one bit flipped in the middle', 'bad_signature', 401, (ctx) => {
  const signature = fromB64(parts(ctx.genuine)[2]);
  signature[20]! ^= 1;
  return connect(withSignature(ctx.genuine, b64(signature)));
});
attack('signature', 'Ed25519 malleated: S + L (RFC 8032 requires S < L)', 'bad_signature', 401, (ctx) =>
  connect(withSignature(ctx.genuine, b64(malleatedEd25519(fromB64(parts(ctx.genuine)[2]))))),
);
attack(
  'signature',
  'ES256 signature in DER instead of raw r||s',
  'bad_signature',
  401,
  (ctx) => connect(withSignature(ctx.ec, b64(derSignature(fromB64(parts(ctx.ec)[2]))))),
  { target: 'ec' },
);
attack(
  'signature',
  'ES256 signature of 63 bytes',
  'bad_signature',
  401,
  (ctx) => connect(withSignature(ctx.ec, b64(fromB64(parts(ctx.ec)[2]).slice(0, 63)))),
  { target: 'ec' },
);
attack(
  'signature',
  'ES256 r and s swapped',
  'bad_signature',
  401,
  (ctx) => {
    const raw = fromB64(parts(ctx.ec)[2]);
    return connect(withSignature(ctx.ec, b64(Uint8Array.of(...raw.slice(32), ...raw.slice(0, 32)))));
  },
  { target: 'ec' },
);

// -- base64url: padding, other alphabets, non-canonical spellings, shape
attack('encoding', 'a trailing "=" on the signature', 'malformed', 400, (ctx) => connect(`${ctx.genuine}=`));
attack('encoding', '"==" padding on the payload', 'malformed', 400, (ctx) => {
  const [h, p, s] = parts(ctx.genuine);
  return connect(`${h}.${p}==.${s}`);
});
attack('encoding', 'a "+" (standard base64) in the signature', 'malformed', 400, (ctx) => {
  const [h, p, s] = parts(ctx.genuine);
  return connect(`${h}.${p}.+${s.slice(1)}`);
});
attack('encoding', 'a "/" (standard base64) in the payload', 'malformed', 400, (ctx) => {
  const [h, p, s] = parts(ctx.genuine);
  return connect(`${h}.${p.slice(0, -1)}/.${s}`);
});
attack(
  'encoding',
  'non-canonical: the signature’s unused low bits set (same bytes)',
  'malformed',
  401,
  (ctx) => {
    const s = parts(ctx.genuine)[2];
    return connect(withSignature(ctx.genuine, `${s.slice(0, -1)}${nextBase64Character(s.at(-1)!)}`));
  },
);
attack('encoding', 'a signature segment of length 1 mod 4', 'malformed', 401, (ctx) =>
  connect(`${ctx.genuine}AAA`),
);
attack('encoding', 'a header segment of length 1 mod 4', 'malformed', 401, (ctx) => {
  const [h, p, s] = parts(ctx.genuine);
  const padded = h.length % 4 === 0 ? `${h}A` : `${h}${'A'.repeat((5 - (h.length % 4)) % 4)}`;
  return connect(`${padded}.${p}.${s}`);
});
attack('encoding', 'a leading space', 'malformed', 400, (ctx) => connect(` ${ctx.genuine}`));
attack('encoding', 'a trailing newline', 'malformed', 400, (ctx) => connect(`${ctx.genuine}\n`));
attack('encoding', 'a space inside the payload', 'malformed', 400, (ctx) => {
  const [h, p, s] = parts(ctx.genuine);
  return connect(`${h}.${p.slice(0, 10)} ${p.slice(10)}.${s}`);
});
attack('encoding', 'a tab before the signature', 'malformed', 400, (ctx) => {
  const [h, p, s] = parts(ctx.genuine);
  return connect(`${h}.${p}.\t${s}`);
});
attack('encoding', 'a trailing dot', 'malformed', 400, (ctx) => connect(`${ctx.genuine}.`));
attack('encoding', 'a doubled dot', 'malformed', 400, (ctx) => {
  const [h, p, s] = parts(ctx.genuine);
  return connect(`${h}..${p}.${s}`);
});
attack('encoding', 'four segments (a signature appended)', 'malformed', 400, (ctx) =>
  connect(`${ctx.genuine}.${parts(ctx.genuine)[2]}`),
);
attack('encoding', 'five segments (JWE-shaped)', 'malformed', 400, (ctx) => {
  const [h, p, s] = parts(ctx.genuine);
  return connect(`${h}.${p}.${s}.${p}.${s}`);
});
attack('encoding', 'two segments (signature cut off)', 'malformed', 400, (ctx) => {
  const [h, p] = parts(ctx.genuine);
  return connect(`${h}.${p}`);
});
attack('encoding', 'the header alone', 'malformed', 400, (ctx) => connect(parts(ctx.genuine)[0]));
attack('encoding', 'a lone dot', 'malformed', 400, () => connect('.'));
attack('encoding', 'two dots', 'malformed', 400, () => connect('..'));
attack('encoding', 'an empty password', 'missing_password', 400, () => connect(''));
attack('encoding', 'no password at all', 'missing_password', null, () => ({ clientId: 'dev-1' }));
attack('encoding', 'the token as raw bytes with a byte above 0x7F', 'malformed', null, (ctx) =>
  connect(
    Uint8Array.of(
      ...utf8.encode(ctx.genuine.slice(0, 20)),
      0xc3,
      0xa9,
      ...utf8.encode(ctx.genuine.slice(20)),
    ),
  ),
);
attack('encoding', 'a non-ASCII character in the header', 'malformed', 400, (ctx) =>
  connect(`é${ctx.genuine}`),
);

// -- size (MAX_TOKEN_BYTES = 4096)
attack('size', '4,097 characters', 'too_large', 401, () =>
  connect(`${'a'.repeat(2048)}.${'b'.repeat(2047)}.c`),
);
attack('size', '8,193 characters (over the refresh body’s limit too)', 'too_large', 400, () =>
  connect(`${'a'.repeat(4096)}.${'b'.repeat(4095)}.c`),
);
attack('size', '1 MB (over the request body limit)', 'too_large', 413, () => connect('a'.repeat(1 << 20)));
attack('size', '2,000 × "€": 6,000 UTF-8 bytes in 2,000 characters', 'too_large', 400, () =>
  connect('€'.repeat(2000)),
);
attack('size', '5,000 raw bytes', 'too_large', null, () => connect(new Uint8Array(5000).fill(0x61)));
attack('size', 'signed by the broker, with a 3 KB claim', 'too_large', 401, async (ctx) =>
  insider({}, { pad: 'p'.repeat(3000) })(ctx),
);

// -- what the header and payload decode to
attack('JSON', 'header: not JSON', 'malformed', 401, (ctx) => connect(withHeader(ctx.genuine, 'not json')));
attack('JSON', 'header: a JSON array', 'malformed', 401, (ctx) =>
  connect(withHeader(ctx.genuine, json([{ alg: 'EdDSA' }]))),
);
attack('JSON', 'header: JSON null', 'malformed', 401, (ctx) => connect(withHeader(ctx.genuine, 'null')));
attack('JSON', 'header: invalid UTF-8', 'malformed', 401, (ctx) => {
  const [, p, s] = parts(ctx.genuine);
  return connect(`${b64(Uint8Array.of(0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d))}.${p}.${s}`);
});
// UTF-8 decoding drops a leading BOM (RFC 8259 §8.1 allows ignoring it): the header parses, the bytes the
// signature covers changed.
attack('JSON', 'header: a byte-order mark before the JSON', 'bad_signature', 401, (ctx) =>
  connect(withHeader(ctx.genuine, `\ufeff${sensorsHeader(ctx)}`)),
);
attack('JSON', 'payload: not JSON (signed by the broker key)', 'malformed', 401, async (ctx) =>
  connect(await ctx.insiderSign(sensorsHeader(ctx), 'sub=dev-1&topicAcl=#')),
);
attack('JSON', 'payload: a JSON array (signed)', 'malformed', 401, async (ctx) =>
  connect(await ctx.insiderSign(sensorsHeader(ctx), json([payload(ctx.genuine)]))),
);
attack('JSON', 'payload: a JSON string (signed)', 'malformed', 401, async (ctx) =>
  connect(await ctx.insiderSign(sensorsHeader(ctx), json(sensorsClaims(ctx)))),
);
attack('JSON', 'payload: invalid UTF-8 (signed)', 'malformed', 401, async (ctx) =>
  connect(
    await ctx.insiderSign(
      sensorsHeader(ctx),
      Uint8Array.of(...utf8.encode(sensorsClaims(ctx).slice(0, -1)), 0xff, 0x7d),
    ),
  ),
);
attack('JSON', 'payload: truncated JSON (signed)', 'malformed', 401, async (ctx) =>
  connect(await ctx.insiderSign(sensorsHeader(ctx), sensorsClaims(ctx).slice(0, -1))),
);

// -- duplicate members: RFC 7519 §4 lets a parser take the lexically last one, as JSON.parse (and so the
// verifier and jose) does. The first value can never be smuggled past a check that reads the last.
const duplicate = (text: string, member: string, first: unknown, last: unknown) =>
  text.replace(/^\{/, `{"${member}":${json(first)},`).replace(/\}$/, `,"${member}":${json(last)}}`);
attack(
  'duplicate members',
  'sub twice: the victim first, another client last; CONNECT as the victim',
  'client_id_mismatch',
  null,
  async (ctx) =>
    connect(
      await ctx.insiderSign(
        sensorsHeader(ctx),
        duplicate(sensorsClaims(ctx, { sub: undefined }), 'sub', 'dev-1', 'intruder'),
      ),
      'dev-1',
    ),
);
attack(
  'duplicate members',
  'aud twice: this broker first, another last',
  'wrong_audience',
  401,
  async (ctx) =>
    connect(
      await ctx.insiderSign(
        sensorsHeader(ctx),
        duplicate(sensorsClaims(ctx, { aud: undefined }), 'aud', 'sensors.home', 'other.home'),
      ),
    ),
);
attack('duplicate members', 'iss twice: gatepass first, another last', 'wrong_issuer', 401, async (ctx) =>
  connect(
    await ctx.insiderSign(
      sensorsHeader(ctx),
      duplicate(sensorsClaims(ctx, { iss: undefined }), 'iss', 'gatepass', 'https://evil.example'),
    ),
  ),
);
attack('duplicate members', 'exp twice: far future first, past last', 'expired', 401, async (ctx) =>
  connect(
    await ctx.insiderSign(
      sensorsHeader(ctx),
      duplicate(sensorsClaims(ctx, { exp: undefined }), 'exp', 4_000_000_000, 1_000_000),
    ),
  ),
);
attack(
  'duplicate members',
  'header alg twice: EdDSA first, none last',
  'algorithm_not_allowed',
  401,
  async (ctx) =>
    connect(
      await ctx.insiderSign(
        duplicate(sensorsHeader(ctx, { alg: undefined }), 'alg', 'EdDSA', 'none'),
        sensorsClaims(ctx),
      ),
    ),
);
attack('duplicate members', 'header typ twice: JWT first, at+jwt last', 'wrong_type', 401, async (ctx) =>
  connect(
    await ctx.insiderSign(
      duplicate(sensorsHeader(ctx, { typ: undefined }), 'typ', 'JWT', 'at+jwt'),
      sensorsClaims(ctx),
    ),
  ),
);
attack(
  'duplicate members',
  'header kid twice: the real kid first, an unknown one last',
  'unknown_key',
  401,
  async (ctx) =>
    connect(
      await ctx.insiderSign(
        duplicate(sensorsHeader(ctx, { kid: undefined }), 'kid', ctx.publicJwk.kid, 'unknown'),
        sensorsClaims(ctx),
      ),
    ),
);

// -- crit (RFC 7515 §4.1.11): gatepass never sets it, so no extension is understood
attack(
  'crit',
  'crit naming an unknown extension',
  'critical_header',
  401,
  insider({ crit: ['x-gatepass'], 'x-gatepass': 1 }),
);
attack(
  'crit',
  'crit ["b64"] with an unencoded payload (RFC 7797)',
  'critical_header',
  401,
  insider({ crit: ['b64'], b64: false }),
);
attack('crit', 'crit ["exp"]', 'critical_header', 401, insider({ crit: ['exp'], exp: 4_000_000_000 }));
attack('crit', 'an empty crit list', 'critical_header', 401, insider({ crit: [] }));
attack('crit', 'crit as a string', 'critical_header', 401, insider({ crit: 'x-gatepass' }));

// -- keys embedded in the header: never consulted, keys come only from the configured set by kid
const embedded = (
  name: string,
  members: (ctx: CorpusContext) => Record<string, unknown>,
  reason: ConnectFailureReason,
  useAttackerKid = false,
) =>
  attack('embedded keys', name, reason, 401, async (ctx) =>
    connect(
      await signRaw(
        ctx.attacker.ed.privateKey,
        'EdDSA',
        sensorsHeader(ctx, { ...(useAttackerKid ? { kid: ctx.attacker.ed.jwk.kid } : {}), ...members(ctx) }),
        sensorsClaims(ctx, { topicAcl: '#' }),
      ),
    ),
  );
embedded(
  'jwk: the attacker’s key, kid of the broker',
  (ctx) => ({ jwk: ctx.attacker.ed.jwk }),
  'bad_signature',
);
embedded(
  'jwk: the attacker’s key, kid its own thumbprint',
  (ctx) => ({ jwk: ctx.attacker.ed.jwk }),
  'unknown_key',
  true,
);
embedded(
  'jwk: the attacker’s key, no kid',
  (ctx) => ({ jwk: ctx.attacker.ed.jwk, kid: undefined }),
  'unknown_key',
);
embedded(
  'jku: the attacker’s JWKS URL, kid of the broker',
  (ctx) => ({ jku: `${ctx.attackerUrl}/jwks.json` }),
  'bad_signature',
);
embedded(
  'jku: the attacker’s JWKS URL, kid its own',
  (ctx) => ({ jku: `${ctx.attackerUrl}/jwks.json` }),
  'unknown_key',
  true,
);
embedded(
  'x5u: the attacker’s certificate URL',
  (ctx) => ({ x5u: `${ctx.attackerUrl}/cert.pem` }),
  'bad_signature',
);
embedded(
  'x5c: a certificate chain',
  () => ({ x5c: ['MIIBszCCAVmgAwIBAgIUQ29tcGxldGVseUZha2VDZXJ0aWZpY2F0ZQ=='] }),
  'bad_signature',
);
embedded(
  'jwk, jku, x5u and x5c together',
  (ctx) => ({
    jwk: ctx.attacker.ed.jwk,
    jku: `${ctx.attackerUrl}/jwks.json`,
    x5u: `${ctx.attackerUrl}/cert.pem`,
    x5c: ['MIIB'],
  }),
  'bad_signature',
);
attack(
  'embedded keys',
  'jwk: the broker’s own public key embedded, attacker signature',
  'bad_signature',
  401,
  async (ctx) =>
    connect(
      await signRaw(
        ctx.attacker.ed.privateKey,
        'EdDSA',
        sensorsHeader(ctx, { jwk: { kty: 'OKP', crv: 'Ed25519', x: ctx.publicJwk.x } }),
        sensorsClaims(ctx, { topicAcl: '#' }),
      ),
    ),
);

// -- revocation and the CONNECT binding: genuine tokens used where they must not work
attack('revoked', 'a genuine token revoked by jti through the API', 'revoked', 401, (ctx) =>
  connect(ctx.revoked),
);
attack('binding', 'a genuine token presented for another client id', 'client_id_mismatch', null, (ctx) =>
  connect(ctx.genuine, 'dev-2'),
);
attack('binding', 'a genuine token with another client’s username', 'username_mismatch', null, (ctx) => ({
  clientId: 'dev-1',
  username: 'dev-2',
  password: ctx.genuine,
}));
attack('binding', 'a genuine token, empty client id, another username', 'username_mismatch', null, (ctx) => ({
  clientId: '',
  username: 'dev-2',
  password: ctx.genuine,
}));

/** Checked by the test, and quoted in docs/security.md ("N attack cases, all refused"). */
export const ATTACK_CASE_COUNT = 161;
