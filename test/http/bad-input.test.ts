// Bad input on every route: one table row a case, each answered with a 4xx envelope and no write at all;
// then properties: random bodies and query strings never reach a 5xx, and only valid ones succeed.
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceTables } from '../support/database.js';
import {
  ADMIN_TOKEN,
  type ApiResponse,
  type CallOptions,
  createBroker,
  startTestServer,
  type TestServer,
} from '../support/server.js';

const MAX_EXPIRATION = 10 * 365 * 24 * 3600;
const MAX_BODY_BYTES = 64 * 1024;

const ns = '/v1/namespaces/home';
const broker = `${ns}/brokers/sensors`;
const limited = `${ns}/brokers/limited`;
const credentials = `${broker}/credentials`;
const revocations = `${broker}/revocations`;
const signingKeys = `${broker}/signing-keys`;
const sinks = `${broker}/revocation-sinks`;
const rabbitSink = `${sinks}/rabbit`;
const validSink = {
  name: 'fresh',
  kind: 'rabbitmq',
  url: 'http://127.0.0.1:9',
  username: 'gatepass',
  password: 'a-management-password',
};
/** Replaced by the bootstrap key's id when the row runs. */
const BOOTSTRAP_ID = '{bootstrap}';
/** Replaced by the jti of a credential the broker `sensors` issued (not revoked). */
const ISSUED_JTI = '{issued}';

// ---- the table

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';

interface Request extends CallOptions {
  method: Method;
  path: string;
  /** `chunked`: the body as a stream, without Content-Length; `untyped`: without Content-Type. */
  transport?: 'chunked' | 'untyped';
}

/** A 400 names the field at fault (null: the body as a whole); other statuses carry no field. */
type Expected = { status: 400; field: string | null } | { status: 401 | 403 | 404 | 405 | 409 | 413 | 415 };

type Row = { name: string } & Request & Expected;

const rows: Row[] = [];

function bad(
  name: string,
  method: Method,
  path: string,
  field: string | null,
  options: Partial<Request> = {},
) {
  rows.push({ name, method, path, ...options, status: 400, field });
}

function fails(
  status: 401 | 403 | 404 | 405 | 409 | 413 | 415,
  name: string,
  method: Method,
  path: string,
  options: Partial<Request> = {},
) {
  rows.push({ name, method, path, ...options, status });
}

const repeat = (count: number, item: (i: number) => string) =>
  Array.from({ length: count }, (_, i) => item(i));
const query = (key: string, values: string[]) =>
  values.map((v) => `${key}=${encodeURIComponent(v)}`).join('&');
const raw = (body: string, contentType = 'application/json') => ({
  body,
  headers: { 'content-type': contentType },
});

/** Routes that need an admin key, each with a body that would be valid, so a 401 proves auth ran first. */
const adminRoutes: Array<[Method, string, unknown?]> = [
  ['GET', '/v1/namespaces'],
  ['POST', '/v1/namespaces', { name: 'fresh' }],
  ['GET', ns],
  ['PATCH', ns, { description: 'changed' }],
  ['DELETE', ns],
  ['GET', `${ns}/brokers`],
  ['POST', `${ns}/brokers`, { name: 'fresh' }],
  ['GET', broker],
  ['PATCH', broker, { description: 'changed' }],
  ['DELETE', broker],
  ['GET', `${credentials}?number=1`],
  ['POST', credentials, { number: 1 }],
  ['POST', `${revocations}?jti=abc`],
  ['GET', revocations],
  ['DELETE', `${revocations}?jti=abc`],
  ['GET', signingKeys],
  ['POST', `${signingKeys}/rotate`],
  ['POST', `${signingKeys}/some-kid/revoke`],
  ['GET', sinks],
  ['POST', sinks, validSink],
  ['GET', rabbitSink],
  ['PATCH', rabbitSink, { timeout_ms: 1000 }],
  ['DELETE', rabbitSink],
  ['GET', '/v1/admin-keys'],
  ['POST', '/v1/admin-keys', { name: 'fresh' }],
  ['DELETE', `/v1/admin-keys/${BOOTSTRAP_ID}`],
];

/**
 * Routes with a JSON body, a body each would accept, and the field a request without a body lacks (an empty
 * body is no body); null where no body is a valid request (tested in the routes' own files).
 */
const bodyRoutes: Array<[Method, string, unknown, string | null]> = [
  ['POST', '/v1/namespaces', { name: 'fresh' }, 'name'],
  ['PATCH', ns, { description: 'changed' }, 'description'],
  ['POST', `${ns}/brokers`, { name: 'fresh' }, 'name'],
  ['PATCH', broker, { description: 'changed' }, null],
  ['POST', credentials, { number: 1 }, null],
  ['POST', revocations, { jti: ['abc'] }, 'jti'],
  ['POST', sinks, validSink, 'kind'],
  ['PATCH', rabbitSink, { timeout_ms: 1000 }, null],
  ['POST', '/v1/admin-keys', { name: 'fresh' }, 'name'],
];

const pagedRoutes = ['/v1/namespaces', `${ns}/brokers`, revocations, sinks, '/v1/admin-keys'];

// -- authentication: missing, unknown and malformed keys, on every admin route
const authFailures: Array<[string, Partial<Request>]> = [
  ['no Authorization', { token: null }],
  ['an unknown key', { token: 'gpk_not-a-key-0123456789abcdef0123' }],
  [
    'a Basic credential',
    { token: null, headers: { authorization: `Basic ${btoa(`admin:${ADMIN_TOKEN}`)}` } },
  ],
];
for (const [method, path, json] of adminRoutes) {
  for (const [what, auth] of authFailures) {
    fails(401, what, method, path, { ...(json === undefined ? {} : { json }), ...auth });
  }
}
const malformedAuth: Array<[string, string]> = [
  ['Bearer without a key', 'Bearer'],
  ['Bearer with a blank key', 'Bearer  '],
  ['a key followed by junk', `Bearer ${ADMIN_TOKEN} extra`],
  ['another scheme', `Token ${ADMIN_TOKEN}`],
  ['a key over 512 characters', `Bearer ${'k'.repeat(513)}`],
  ['the key with one character changed', `Bearer ${ADMIN_TOKEN.slice(0, -1)}X`],
  ['the key without a scheme', ADMIN_TOKEN],
];
for (const [what, header] of malformedAuth) {
  fails(401, what, 'POST', '/v1/namespaces', {
    token: null,
    headers: { authorization: header },
    json: { name: 'fresh' },
  });
}
fails(401, 'no key, on the Cloudflare prefix', 'GET', '/client/v4/accounts/acc/pubsub/namespaces', {
  token: null,
});
fails(401, 'no key, on /client/v4/memberships', 'GET', '/client/v4/memberships', { token: null });
fails(401, 'no key, with an invalid body', 'POST', '/v1/namespaces', { token: null, json: { name: 'Bad' } });

// -- bodies: malformed JSON, not an object, wrong content type, too large, unknown fields
for (const [method, path, valid, lacking] of bodyRoutes) {
  bad('malformed JSON', method, path, null, raw('{"name": '));
  bad('a JSON body of blanks', method, path, null, raw('  '));
  if (lacking !== null) bad('an empty JSON body: no body', method, path, lacking, raw(''));
  bad('a JSON array', method, path, null, { json: [valid] });
  bad('a JSON string', method, path, null, { json: 'fresh' });
  bad('JSON null', method, path, null, { json: null });
  bad('an unknown field', method, path, 'extra', { json: { ...(valid as object), extra: 1 } });
  fails(415, 'text/plain on /v1', method, path, raw(JSON.stringify(valid), 'text/plain'));
  fails(415, 'form-encoded', method, path, raw('name=fresh', 'application/x-www-form-urlencoded'));
  fails(413, 'a body over the limit', method, path, {
    json: { ...(valid as object), description: 'x'.repeat(MAX_BODY_BYTES) },
  });
}
fails(415, 'no content type', 'POST', '/v1/namespaces', { body: '{"name":"fresh"}', transport: 'untyped' });
fails(415, "fetch's default text/plain", 'POST', '/v1/namespaces', { body: '{"name":"fresh"}' });
fails(415, 'application/jsonx', 'POST', '/v1/namespaces', raw('{"name":"fresh"}', 'application/jsonx'));
fails(415, 'text/plain on a DELETE', 'DELETE', `${revocations}?jti=abc`, raw('{}', 'text/plain'));
fails(413, 'one byte over the limit', 'POST', '/v1/namespaces', raw(`"${'x'.repeat(MAX_BODY_BYTES - 1)}"`));
fails(413, 'a chunked body over the limit', 'POST', '/v1/namespaces', {
  ...raw(JSON.stringify({ name: 'fresh', description: 'x'.repeat(MAX_BODY_BYTES) })),
  transport: 'chunked',
});
fails(413, 'a body over the limit with a bad key', 'POST', '/v1/namespaces', {
  token: 'gpk_not-a-key-0123456789abcdef0123',
  ...raw('x'.repeat(MAX_BODY_BYTES + 1)),
});
bad(
  'a duplicated key naming an unknown field',
  'POST',
  '/v1/namespaces',
  'extra',
  raw('{"name":"x","extra":1,"extra":2}'),
);
bad(
  '__proto__ as a field',
  'POST',
  '/v1/namespaces',
  '__proto__',
  raw('{"__proto__":{"name":"x"},"name":"fresh"}'),
);

// -- the Cloudflare prefix reads text/plain as JSON (wrangler sends no content type), but nothing else
const cf = '/client/v4/accounts/acc/pubsub';
bad(
  'text/plain malformed JSON, Cloudflare prefix',
  'POST',
  `${cf}/namespaces`,
  null,
  raw('{bad', 'text/plain'),
);
bad(
  'text/plain bad name, Cloudflare prefix',
  'POST',
  `${cf}/namespaces`,
  'name',
  raw('{"name":"Bad"}', 'text/plain'),
);
bad('text/plain empty body, Cloudflare prefix', 'POST', `${cf}/namespaces`, 'name', raw('', 'text/plain'));
bad(
  'text/plain number 0, Cloudflare prefix',
  'POST',
  `${cf}/namespaces/home/brokers/sensors/credentials`,
  'number',
  raw('{"number":0}', 'text/plain'),
);
fails(415, 'text/html, Cloudflare prefix', 'POST', `${cf}/namespaces`, raw('{"name":"fresh"}', 'text/html'));
fails(
  409,
  'a duplicate name, Cloudflare prefix',
  'POST',
  `${cf}/namespaces`,
  raw('{"name":"home"}', 'text/plain'),
);

// -- paging query strings on every list
const badPages: Array<[string, string]> = [
  ['an exponent', '1e2'],
  ['a fraction', '1.5'],
  ['a leading space', ' 5'],
  ['empty', ''],
  ['zero', '0'],
  ['negative', '-1'],
  ['a plus sign', '+5'],
  ['hexadecimal', '0x10'],
  ['huge', '99999999999999999'],
  ['over the maximum', '1000001'],
];
for (const path of pagedRoutes) {
  for (const [what, value] of badPages)
    bad(`page ${what}`, 'GET', `${path}?${query('page', [value])}`, 'page');
  bad('per_page 0', 'GET', `${path}?per_page=0`, 'per_page');
  bad('per_page 101', 'GET', `${path}?per_page=101`, 'per_page');
  bad('page given twice', 'GET', `${path}?page=1&page=2`, 'page');
  bad('an unknown query parameter', 'GET', `${path}?sort=name`, 'sort');
}

// -- names that are not RFC 1035 labels
const badNames: Array<[string, string]> = [
  ['uppercase', 'Home'],
  ['a leading digit', '1home'],
  ['a leading hyphen', '-home'],
  ['a trailing hyphen', 'home-'],
  ['64 characters', `a${'b'.repeat(63)}`],
  ['unicode', 'hömé'],
  ['an emoji', 'home😀'],
  ['a control character', 'ho\u0001me'],
  ['a newline', 'home\n'],
  ['NUL', 'ho\u0000me'],
  ['an underscore', 'ho_me'],
  ['a dot', 'ho.me'],
  ['a slash', 'ho/me'],
  ['a space', 'ho me'],
];
for (const [what, name] of badNames) {
  const segment = encodeURIComponent(name);
  bad(`namespace path: ${what}`, 'GET', `/v1/namespaces/${segment}`, 'namespace');
  bad(`broker path: ${what}`, 'GET', `${ns}/brokers/${segment}`, 'broker');
  bad(`namespace name: ${what}`, 'POST', '/v1/namespaces', 'name', { json: { name } });
  bad(`broker name: ${what}`, 'POST', `${ns}/brokers`, 'name', { json: { name } });
  bad(`admin key namespace: ${what}`, 'POST', '/v1/admin-keys', 'namespace', {
    json: { name: 'k', namespace: name },
  });
}
bad('an empty namespace name', 'POST', '/v1/namespaces', 'name', { json: { name: '' } });
bad('an empty broker name', 'POST', `${ns}/brokers`, 'name', { json: { name: '' } });
bad('a namespace name that is a number', 'POST', '/v1/namespaces', 'name', { json: { name: 42 } });
bad('a broker name that is an array', 'POST', `${ns}/brokers`, 'name', { json: { name: ['b'] } });

// Every route with a namespace or broker in its path, with a bad name in it.
const pathRoutes: Array<[Method, string, unknown?]> = [
  ['PATCH', '{ns}', { description: 'x' }],
  ['DELETE', '{ns}'],
  ['GET', '{ns}/brokers'],
  ['POST', '{ns}/brokers', { name: 'fresh' }],
  ['PATCH', '{ns}/brokers/{b}', { description: 'x' }],
  ['DELETE', '{ns}/brokers/{b}'],
  ['GET', '{ns}/brokers/{b}/credentials'],
  ['POST', '{ns}/brokers/{b}/credentials', { number: 1 }],
  ['POST', '{ns}/brokers/{b}/revocations?jti=abc'],
  ['GET', '{ns}/brokers/{b}/revocations'],
  ['DELETE', '{ns}/brokers/{b}/revocations?jti=abc'],
  ['GET', '{ns}/brokers/{b}/publickeys'],
  ['GET', '{ns}/brokers/{b}/jwks.json'],
  ['GET', '{ns}/brokers/{b}/signing-keys'],
  ['POST', '{ns}/brokers/{b}/signing-keys/rotate'],
  ['POST', '{ns}/brokers/{b}/signing-keys/some-kid/revoke'],
  ['GET', '{ns}/brokers/{b}/revocation-sinks'],
  ['POST', '{ns}/brokers/{b}/revocation-sinks', validSink],
  ['GET', '{ns}/brokers/{b}/revocation-sinks/rabbit'],
  ['PATCH', '{ns}/brokers/{b}/revocation-sinks/rabbit', { timeout_ms: 1000 }],
  ['DELETE', '{ns}/brokers/{b}/revocation-sinks/rabbit'],
];
const fill = (template: string, namespace: string, brokerName: string) =>
  template.replace('{ns}', `/v1/namespaces/${namespace}`).replace('{b}', brokerName);
for (const [method, template, json] of pathRoutes) {
  const body = json === undefined ? {} : { json };
  const token = /(publickeys|jwks\.json)$/.test(template) ? { token: null } : {};
  bad('bad namespace in path', method, fill(template, 'Home', 'sensors'), 'namespace', { ...body, ...token });
  fails(404, 'unknown namespace', method, fill(template, 'nowhere', 'sensors'), { ...body, ...token });
  if (template.includes('{b}')) {
    bad('bad broker in path', method, fill(template, 'home', 'sensors-'), 'broker', { ...body, ...token });
    fails(404, 'unknown broker', method, fill(template, 'home', 'nothing'), { ...body, ...token });
  }
}
fails(404, 'unknown namespace', 'GET', '/v1/namespaces/nowhere');
fails(404, 'unknown broker', 'GET', `${ns}/brokers/nothing`);
fails(404, 'an unknown route', 'GET', '/v1/nothing');
fails(405, 'an unsupported method', 'PUT', '/v1/namespaces', { json: { name: 'fresh' } });
fails(405, 'an unsupported method, without a key', 'PATCH', '/v1/admin-keys', { token: null });
fails(405, 'an unsupported method, with a body of another type', 'PUT', broker, raw('x', 'text/plain'));
fails(404, 'a trailing slash', 'GET', '/v1/namespaces/home/');

// -- namespaces
fails(409, 'a duplicate namespace name', 'POST', '/v1/namespaces', { json: { name: 'home' } });
fails(409, 'deleting a namespace that still has brokers', 'DELETE', ns);
fails(409, 'deleting a namespace that still has brokers, force=false', 'DELETE', `${ns}?force=false`);
bad('force that is not true or false', 'DELETE', `${ns}?force=yes`, 'force');
bad('force given twice', 'DELETE', `${ns}?force=true&force=true`, 'force');
bad('an unknown query parameter on a delete', 'DELETE', `${ns}?cascade=true`, 'cascade');
bad('no name', 'POST', '/v1/namespaces', 'name', { json: { description: 'x' } });
bad('a description that is null', 'POST', '/v1/namespaces', 'description', {
  json: { name: 'fresh', description: null },
});
bad('a description over 1024 characters', 'POST', '/v1/namespaces', 'description', {
  json: { name: 'fresh', description: 'x'.repeat(1025) },
});
bad('a description with a lone surrogate', 'POST', '/v1/namespaces', 'description', {
  json: { name: 'fresh', description: 'a\ud800b' },
});
bad('no description', 'PATCH', ns, 'description', { json: {} });
bad('a description that is a number', 'PATCH', ns, 'description', { json: { description: 5 } });
bad('a description over 1024 characters', 'PATCH', ns, 'description', {
  json: { description: 'x'.repeat(1025) },
});
bad('renaming', 'PATCH', ns, 'name', { json: { description: 'x', name: 'other' } });

// -- brokers
fails(409, 'a duplicate broker name', 'POST', `${ns}/brokers`, { json: { name: 'sensors' } });
fails(409, 'a duplicate broker name, other settings', 'POST', `${ns}/brokers`, {
  json: { name: 'limited', expiration: 60, algorithm: 'ES256' },
});
const brokerFields: Array<[string, string, unknown]> = [
  ['expiration 0', 'expiration', 0],
  ['expiration -1', 'expiration', -1],
  ['expiration -2', 'expiration', -2],
  ['a fractional expiration', 'expiration', 1.5],
  ['an expiration as a string', 'expiration', '60'],
  ['a huge expiration', 'expiration', MAX_EXPIRATION + 1],
  ['expiration 1e300', 'expiration', 1e300],
  ['auth_type PASSWORD', 'auth_type', 'PASSWORD'],
  ['algorithm RS256', 'algorithm', 'RS256'],
  ['algorithm none', 'algorithm', 'none'],
  ['an empty issuer', 'issuer', ''],
  ['an issuer over 256 characters', 'issuer', 'i'.repeat(257)],
  ['an issuer with a lone surrogate', 'issuer', 'i\udc00'],
  ['an empty audience', 'audience', ''],
  ['an audience that is an object', 'audience', { aud: 'x' }],
  ['a description over 1024 characters', 'description', 'd'.repeat(1025)],
  ['a topic ACL that is not #', 'default_topic_acl', 'x'],
  ['a topic ACL that is a list', 'default_topic_acl', ['a/b']],
  ['a topic ACL without sub', 'default_topic_acl', { pub: [] }],
  ['a max client id length under 26', 'max_client_id_length', 25],
  ['a max client id length over 256', 'max_client_id_length', 257],
  ['a fractional max client id length', 'max_client_id_length', 40.5],
  ['a max client id length as a string', 'max_client_id_length', '64'],
  ['a max client id length of null', 'max_client_id_length', null],
  ['a key rotation period under the pre-publication time', 'key_rotation_period', 1199],
  ['a key rotation period as a string', 'key_rotation_period', '3600'],
  ['claim_profile EMQX in capitals', 'claim_profile', 'EMQX'],
  ['claim_profile hivemq', 'claim_profile', 'hivemq'],
  ['claim_profile null', 'claim_profile', null],
];
for (const [what, field, value] of brokerFields) {
  bad(what, 'POST', `${ns}/brokers`, field, { json: { name: 'fresh', [field]: value } });
  if (field !== 'auth_type' && field !== 'algorithm')
    bad(what, 'PATCH', broker, field, { json: { [field]: value } });
}
const aclCases: Array<[string, string, unknown]> = [
  ["a filter with '#' inside", 'pub.0', { pub: ['a/#/b'], sub: [] }],
  ["'+' not a whole level", 'sub.0', { pub: [], sub: ['a+'] }],
  ["'#' not a whole level", 'pub.1', { pub: ['ok', '#x'], sub: [] }],
  ['an empty filter', 'pub.0', { pub: [''], sub: [] }],
  ['a filter with U+0000', 'sub.0', { pub: [], sub: ['a/\u0000'] }],
  ['a filter over 1024 bytes', 'pub.0', { pub: ['é'.repeat(513)], sub: [] }],
  ['a filter with a lone surrogate', 'pub.0', { pub: ['a/\ud800'], sub: [] }],
  // Zod reports a list too long inside a union at the union itself.
  ['33 filters', '', { pub: [], sub: repeat(33, (i) => `t/${i}`) }],
  ['an unknown direction', 'both', { pub: [], sub: [], both: [] }],
];
const aclField = (field: string) => (field === '' ? 'default_topic_acl' : `default_topic_acl.${field}`);
for (const [what, field, acl] of aclCases) {
  bad(`default ACL: ${what}`, 'POST', `${ns}/brokers`, aclField(field), {
    json: { name: 'fresh', default_topic_acl: acl },
  });
  bad(`default ACL: ${what}`, 'PATCH', broker, aclField(field), {
    json: { default_topic_acl: acl },
  });
}
bad('renaming a broker', 'PATCH', broker, 'name', { json: { name: 'other' } });
bad('changing the algorithm', 'PATCH', broker, 'algorithm', { json: { algorithm: 'ES256' } });
bad('claim_profile emqx with EdDSA', 'POST', `${ns}/brokers`, 'claim_profile', {
  json: { name: 'fresh', claim_profile: 'emqx', algorithm: 'EdDSA', expiration: 60 },
});
bad('claim_profile tbmq without an expiration', 'POST', `${ns}/brokers`, 'claim_profile', {
  json: { name: 'fresh', claim_profile: 'tbmq' },
});
bad('claim_profile emqx on an EdDSA broker', 'PATCH', broker, 'claim_profile', {
  json: { claim_profile: 'emqx', expiration: 60 },
});
bad('removing the expiration of an emqx broker', 'PATCH', `${ns}/brokers/native`, 'expiration', {
  json: { expiration: null },
});

// -- signing keys
fails(409, 'rotating before the next key has been published long enough', 'POST', `${signingKeys}/rotate`);
fails(404, 'revoking an unknown kid', 'POST', `${signingKeys}/not-a-kid-of-this-broker/revoke`);
bad('revoking a kid with a space', 'POST', `${signingKeys}/a%20b/revoke`, 'kid');
bad('revoking a kid over 128 characters', 'POST', `${signingKeys}/${'k'.repeat(129)}/revoke`, 'kid');
bad('revoking a kid with a dot', 'POST', `${signingKeys}/a.b/revoke`, 'kid');
fails(405, 'rotate with GET', 'GET', `${signingKeys}/rotate`);

// -- credentials: the JSON body
const filters: Array<[string, string]> = [
  ["'#' inside", 'a/#/b'],
  ["'+' not a whole level", 'a+'],
  ["'#' not a whole level", '#x'],
  ['empty', ''],
  ['U+0000', 'a/\u0000/b'],
  ['over 1024 bytes', 'x'.repeat(1025)],
  ['over 1024 bytes of UTF-8', '€'.repeat(342)],
];
const credentialFields: Array<[string, string, unknown]> = [
  ['number 0', 'number', 0],
  ['number 101', 'number', 101],
  ['number -1', 'number', -1],
  ['a fractional number', 'number', 1.5],
  ['a number as a string', 'number', '5'],
  ['a huge number', 'number', 2 ** 60],
  ['number null', 'number', null],
  ['type PASSWORD', 'type', 'PASSWORD'],
  ['type lowercase', 'type', 'token'],
  ['clientid as a string', 'clientid', 'abc'],
  ['101 client ids', 'clientid', repeat(101, (i) => `c${i}`)],
  ['duplicate client ids', 'clientid', ['a', 'b', 'a']],
  ['expiration 0', 'expiration', 0],
  ['expiration -2', 'expiration', -2],
  ['a huge expiration', 'expiration', MAX_EXPIRATION + 1],
  ['expiration 1e300', 'expiration', 1e300],
  ['a fractional expiration', 'expiration', 0.5],
  ['expiration as a string', 'expiration', '3600'],
  ['a topic ACL that is a number', 'topicAcl', 7],
  ['a topic ACL of "+"', 'topicAcl', '+'],
  ['33 topicAcl filters', 'topicAcl', repeat(33, (i) => `t/${i}`)],
  ['33 pub filters', 'pub', repeat(33, (i) => `t/${i}`)],
  ['33 sub filters', 'sub', repeat(33, (i) => `t/${i}`)],
  ['pub as a string', 'pub', 'a/b'],
];
for (const [what, field, value] of credentialFields) {
  bad(what, 'POST', credentials, field, { json: { [field]: value } });
}
const clientIds: Array<[string, string]> = [
  ['129 characters (the broker allows 128)', 'c'.repeat(129)],
  ['257 characters', 'c'.repeat(257)],
  ['a space', 'a b'],
  ["a '+'", 'a+b'],
  ["a leading '$'", '$SYS'],
  ['a slash', 'a/b'],
  ['unicode', 'é'],
  ['empty', ''],
  ['a control character', 'a\u0007'],
];
for (const [what, id] of clientIds) {
  bad(`a client id with ${what}`, 'POST', credentials, 'clientid.1', { json: { clientid: ['ok', id] } });
  bad(`a client id with ${what}`, 'GET', `${credentials}?${query('clientid', ['ok', id])}`, 'clientid.1');
}
for (const [what, filter] of filters) {
  bad(`a topicAcl filter ${what}`, 'POST', credentials, 'topicAcl.0', { json: { topicAcl: [filter] } });
  bad(`a pub filter ${what}`, 'POST', credentials, 'pub.1', { json: { pub: ['ok', filter] } });
  bad(`a sub filter ${what} in an ACL object`, 'POST', credentials, 'topicAcl.sub.0', {
    json: { topicAcl: { pub: [], sub: [filter] } },
  });
  bad(`a topicAcl filter ${what}`, 'GET', `${credentials}?${query('topicAcl', [filter])}`, 'topicAcl.0');
  bad(`a sub filter ${what}`, 'GET', `${credentials}?${query('sub', ['ok', filter])}`, 'sub.1');
}
// What an unencoded '#' leaves of `topicAcl="#"` and `pub="a/#"` in the query form: an unclosed quote.
bad('an unclosed double quote', 'GET', `${credentials}?topicAcl=%22`, 'topicAcl.0');
bad('an unclosed double quote after a level', 'GET', `${credentials}?pub=%22a/`, 'pub.0');
bad('a quoted empty filter', 'GET', `${credentials}?sub=%22%22`, 'sub.0');
bad(
  'a quoted filter that is not one',
  'GET',
  `${credentials}?${query('topicAcl', ['"a/#/b"'])}`,
  'topicAcl.0',
);
bad('a filter with a lone surrogate', 'POST', credentials, 'topicAcl.0', {
  json: { topicAcl: ['a/\udfff'] },
});
bad('an ACL object and pub/sub lists', 'POST', credentials, 'topicAcl', {
  json: { topicAcl: { pub: ['a'], sub: ['b'] }, pub: ['c'] },
});
bad('"#" and pub/sub lists', 'POST', credentials, 'topicAcl', { json: { topicAcl: '#', sub: ['c'] } });
bad('an ACL object with an unknown key', 'POST', credentials, 'topicAcl.both', {
  json: { topicAcl: { pub: [], sub: [], both: [] } },
});
bad('33 filters once merged', 'POST', credentials, 'topicAcl', {
  json: { topicAcl: repeat(16, (i) => `t/${i}`), pub: repeat(17, (i) => `p/${i}`) },
});
bad('number as a raw 1e400', 'POST', credentials, 'number', raw('{"number":1e400}'));
bad(
  'a topicAcl nesting 10,000 arrays',
  'POST',
  credentials,
  'topicAcl',
  raw(`{"topicAcl":${'['.repeat(10_000)}${']'.repeat(10_000)}}`),
);
bad('expiration -1, broker with an expiration', 'POST', `${limited}/credentials`, 'expiration', {
  json: { expiration: -1 },
});

// -- credentials: the query string
const credentialQueries: Array<[string, string, string]> = [
  ['number 0', 'number=0', 'number'],
  ['number 101', 'number=101', 'number'],
  ['number -1', 'number=-1', 'number'],
  ['number 1e2', 'number=1e2', 'number'],
  ['number 1.5', 'number=1.5', 'number'],
  ['number " 5"', 'number=%205', 'number'],
  ['number ""', 'number=', 'number'],
  ['number without a value', 'number', 'number'],
  ['number given twice', 'number=1&number=2', 'number'],
  ['a huge number', 'number=99999999999999999', 'number'],
  ['type PASSWORD', 'type=PASSWORD', 'type'],
  ['expiration 0', 'expiration=0', 'expiration'],
  ['expiration -2', 'expiration=-2', 'expiration'],
  ['expiration 1e2', 'expiration=1e2', 'expiration'],
  ['expiration 1.5', 'expiration=1.5', 'expiration'],
  ['expiration ""', 'expiration=', 'expiration'],
  ['expiration " 5"', 'expiration=%205', 'expiration'],
  ['a huge expiration', `expiration=${MAX_EXPIRATION + 1}`, 'expiration'],
  ['expiration with 17 digits', 'expiration=10000000000000000', 'expiration'],
  ['duplicate client ids', 'clientid=a&clientid=b&clientid=a', 'clientid'],
  [
    '101 client ids',
    query(
      'clientid',
      repeat(101, (i) => `c${i}`),
    ),
    'clientid',
  ],
  ['comma-separated client ids', 'clientid=a,b', 'clientid.0'],
  [
    '33 topicAcl filters',
    query(
      'topicAcl',
      repeat(33, (i) => `t/${i}`),
    ),
    'topicAcl',
  ],
  [
    '33 pub filters',
    query(
      'pub',
      repeat(33, (i) => `t/${i}`),
    ),
    'pub',
  ],
  [
    '33 filters once merged',
    `${query(
      'topicAcl',
      repeat(20, (i) => `t/${i}`),
    )}&${query(
      'sub',
      repeat(13, (i) => `s/${i}`),
    )}`,
    'topicAcl',
  ],
  ['an unknown parameter', 'topic=a', 'topic'],
];
for (const [what, search, field] of credentialQueries) bad(what, 'GET', `${credentials}?${search}`, field);
bad('expiration -1, broker with an expiration', 'GET', `${limited}/credentials?expiration=-1`, 'expiration');
for (const value of ['yes', '1', 'TRUE', '']) {
  bad(`detail ${JSON.stringify(value)}`, 'GET', `${credentials}?${query('detail', [value])}`, 'detail');
  bad(
    `detail ${JSON.stringify(value)} in POST's query`,
    'POST',
    `${credentials}?${query('detail', [value])}`,
    'detail',
    {
      json: { number: 1 },
    },
  );
}
bad('detail given twice', 'GET', `${credentials}?detail=true&detail=false`, 'detail');
bad('detail as a string', 'POST', credentials, 'detail', { json: { detail: 'true' } });
bad('a request field in POST’s query', 'POST', `${credentials}?number=1`, 'number', { json: { number: 1 } });

// -- revocations
const jtis = (count: number, prefix = 'j') => repeat(count, (i) => `${prefix}${i}`);
bad('no jti at all', 'POST', revocations, 'jti');
bad('no jti in the body', 'POST', revocations, 'jti', { json: {} });
bad('an empty jti list', 'POST', revocations, 'jti', { json: { jti: [] } });
bad('a jti that is a string', 'POST', revocations, 'jti', { json: { jti: 'abc' } });
bad('101 jtis in the body', 'POST', revocations, 'jti', { json: { jti: jtis(101) } });
bad('101 jtis in the query', 'POST', `${revocations}?jti=${jtis(101).join(',')}`, 'jti');
bad('101 repeated jti parameters', 'POST', `${revocations}?${query('jti', jtis(101))}`, 'jti');
bad('101 jtis across query and body', 'POST', `${revocations}?jti=${jtis(51).join(',')}`, 'jti', {
  json: { jti: jtis(50, 'k') },
});
bad('an empty jti', 'POST', `${revocations}?jti=`, 'jti.0');
bad('an empty jti between commas', 'POST', `${revocations}?jti=a,,b`, 'jti.1');
const badJtis: Array<[string, string]> = [
  ['a space', 'a b'],
  ['a slash', 'a/b'],
  ['unicode', 'jé'],
  ['129 characters', 'j'.repeat(129)],
  ['a control character', 'a\u0001'],
  ['a quote', 'a"b'],
];
for (const [what, jti] of badJtis) {
  bad(`a jti with ${what}`, 'POST', revocations, 'jti.1', { json: { jti: ['ok', jti] } });
  bad(`a jti with ${what}`, 'POST', `${revocations}?${query('jti', [jti])}`, 'jti.0');
  bad(`a jti with ${what}`, 'DELETE', `${revocations}?${query('jti', ['ok', jti])}`, 'jti.1');
}
bad('no jti to un-revoke', 'DELETE', revocations, 'jti');
bad('a body instead of a query to un-revoke', 'DELETE', revocations, 'jti', { json: { jti: ['abc'] } });
bad('101 jtis to un-revoke', 'DELETE', `${revocations}?jti=${jtis(101).join(',')}`, 'jti');
bad('an unknown query parameter', 'POST', `${revocations}?jtis=abc`, 'jtis');
bad('an unknown query parameter', 'DELETE', `${revocations}?jti=abc&all=1`, 'all');
bad('since -1', 'GET', `${revocations}?since=-1`, 'since');
bad('since 1e2', 'GET', `${revocations}?since=1e2`, 'since');
bad('since ""', 'GET', `${revocations}?since=`, 'since');
bad('limit 0', 'GET', `${revocations}?since=0&limit=0`, 'limit');
fails(404, 'a jti this broker never issued', 'POST', `${revocations}?jti=01JDX4Q3N8T7K9ZC5V2M6B1R0A`);
fails(404, 'an issued jti beside one never issued', 'POST', `${revocations}?jti={issued}`, {
  json: { jti: ['never-issued'] },
});
fails(404, 'un-revoking a jti never issued', 'DELETE', `${revocations}?jti=never-issued`);
fails(404, 'a jti issued by another broker', 'POST', `${limited}/revocations?jti={issued}`);
bad('limit 1001', 'GET', `${revocations}?since=0&limit=1001`, 'limit');

// -- revocation sinks
const sinkFields: Array<[string, string, Record<string, unknown>]> = [
  ['no kind', 'kind', { kind: undefined }],
  ['an unknown kind', 'kind', { kind: 'mosquitto' }],
  ['no name', 'name', { name: undefined }],
  ['a name that is not a label', 'name', { name: 'Rabbit' }],
  ['no url', 'url', { url: undefined }],
  ['a url that is not one', 'url', { url: 'rabbit:15672' }],
  ['an ftp url', 'url', { url: 'ftp://rabbit.internal/' }],
  ['a url with credentials in it', 'url', { url: 'http://guest:guest@rabbit.internal:15672' }],
  ['a url over 2048 characters', 'url', { url: `http://rabbit.internal/${'a'.repeat(2048)}` }],
  ['no username', 'username', { username: undefined }],
  ['an empty username', 'username', { username: '' }],
  ['a username with a colon', 'username', { username: 'gate:pass' }],
  ['a username with a newline', 'username', { username: 'gate\npass' }],
  ['no password', 'password', { password: undefined }],
  ['a password of 15 characters', 'password', { password: 'p'.repeat(15) }],
  ['a password with a control character', 'password', { password: `${'p'.repeat(16)}\u0000` }],
  ['a password that is a number', 'password', { password: 1234567890123456 }],
  ['an EMQX api_key on a rabbitmq sink', 'api_key', { api_key: 'k' }],
  ['timeout_ms 99', 'timeout_ms', { timeout_ms: 99 }],
  ['timeout_ms 30001', 'timeout_ms', { timeout_ms: 30_001 }],
  ['a fractional timeout_ms', 'timeout_ms', { timeout_ms: 1.5 }],
  ['a timeout_ms as a string', 'timeout_ms', { timeout_ms: '1000' }],
  ['a username with a lone surrogate', 'username', { username: 'gate\ud800' }],
];
for (const [what, field, change] of sinkFields) {
  bad(`sink: ${what}`, 'POST', sinks, field, { json: { ...validSink, ...change } });
}
const emqxSink = {
  name: 'fresh',
  kind: 'emqx',
  url: 'http://127.0.0.1:9',
  api_key: 'k',
  api_secret: 's'.repeat(16),
};
bad('emqx sink: no api_secret', 'POST', sinks, 'api_secret', {
  json: { ...emqxSink, api_secret: undefined },
});
bad('emqx sink: a password instead of an api_secret', 'POST', sinks, 'password', {
  json: { ...emqxSink, password: 's'.repeat(16) },
});
const webhookSink = { name: 'fresh', kind: 'webhook', url: 'http://127.0.0.1:9/hook' };
const webhookSecrets: Array<[string, string]> = [
  ['not whsec_', 'a-secret-that-is-long-enough'],
  ['of 23 bytes', `whsec_${btoa('x'.repeat(23))}`],
  ['of 65 bytes', `whsec_${btoa('x'.repeat(65)).slice(0, 120)}`],
  ['not base64', `whsec_${'!'.repeat(40)}`],
];
for (const [what, secret] of webhookSecrets) {
  bad(`webhook sink: a secret ${what}`, 'POST', sinks, 'secret', { json: { ...webhookSink, secret } });
  bad(`webhook sink: a secret ${what}`, 'PATCH', `${sinks}/hook`, 'secret', { json: { secret } });
}
bad('webhook sink: an unknown event type', 'POST', sinks, 'events.1', {
  json: { ...webhookSink, events: ['credentials.revoked', 'broker.created'] },
});
bad('webhook sink: no event types', 'POST', sinks, 'events', { json: { ...webhookSink, events: [] } });
bad('webhook sink: a username', 'POST', sinks, 'username', { json: { ...webhookSink, username: 'u' } });
fails(409, 'a duplicate sink name', 'POST', sinks, { json: { ...validSink, name: 'rabbit' } });
bad('renaming a sink', 'PATCH', rabbitSink, 'name', { json: { name: 'other' } });
bad('changing the kind of a sink', 'PATCH', rabbitSink, 'kind', { json: { kind: 'emqx' } });
bad('an EMQX field on a rabbitmq sink', 'PATCH', rabbitSink, 'api_secret', {
  json: { api_secret: 's'.repeat(16) },
});
bad('a webhook field on a rabbitmq sink', 'PATCH', rabbitSink, 'events', {
  json: { events: ['credentials.issued'] },
});
bad('a rabbitmq field on a webhook sink', 'PATCH', `${sinks}/hook`, 'password', {
  json: { password: 'p'.repeat(16) },
});
bad('a password of 15 characters', 'PATCH', rabbitSink, 'password', { json: { password: 'p'.repeat(15) } });
bad('a url with credentials in it', 'PATCH', rabbitSink, 'url', {
  json: { url: 'http://a:b@rabbit.internal' },
});
bad('a sink name that is not a label', 'GET', `${sinks}/Rabbit`, 'name');
for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
  fails(
    404,
    'an unknown sink',
    method,
    `${sinks}/nothing`,
    method === 'PATCH' ? { json: { timeout_ms: 1000 } } : {},
  );
  fails(
    404,
    'a sink of another broker',
    method,
    `${ns}/brokers/limited/revocation-sinks/rabbit`,
    method === 'PATCH' ? { json: { timeout_ms: 1000 } } : {},
  );
}

// -- admin keys
bad('no name', 'POST', '/v1/admin-keys', 'name', { json: {} });
bad('an empty name', 'POST', '/v1/admin-keys', 'name', { json: { name: '' } });
bad('a name over 128 characters', 'POST', '/v1/admin-keys', 'name', { json: { name: 'k'.repeat(129) } });
bad('a name that is a number', 'POST', '/v1/admin-keys', 'name', { json: { name: 5 } });
bad('a name with a lone surrogate', 'POST', '/v1/admin-keys', 'name', { json: { name: 'k\ud800' } });
bad('permission admin', 'POST', '/v1/admin-keys', 'permission', { json: { name: 'k', permission: 'admin' } });
bad('permission in capitals', 'POST', '/v1/admin-keys', 'permission', {
  json: { name: 'k', permission: 'WRITE' },
});
bad('choosing the secret', 'POST', '/v1/admin-keys', 'key', {
  json: { name: 'k', key: 'gpk_mine-0123456789abcdef' },
});
fails(404, 'an unknown namespace', 'POST', '/v1/admin-keys', { json: { name: 'k', namespace: 'nowhere' } });
fails(404, 'an unknown key id', 'DELETE', '/v1/admin-keys/01J00000000000000000000000');
bad('a key id over 64 characters', 'DELETE', `/v1/admin-keys/${'k'.repeat(65)}`, 'id');
fails(409, 'the last read-write key for all namespaces', 'DELETE', `/v1/admin-keys/${BOOTSTRAP_ID}`);

// ---- running the table

interface EnvelopeError {
  code: unknown;
  message: unknown;
  error: unknown;
  field?: unknown;
}

/** Every failure: a 4xx JSON envelope with `success: false` and well-formed errors. */
function expectFailureEnvelope(response: ApiResponse) {
  expect(response.status).toBeGreaterThanOrEqual(400);
  expect(response.status).toBeLessThan(500);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(response.body).toMatchObject({ success: false, messages: [], result: null });
  const errors: EnvelopeError[] = response.body.errors;
  expect(errors.length).toBeGreaterThan(0);
  for (const error of errors) {
    expect(error.code).toBe(10_000 + response.status);
    expect(typeof error.message).toBe('string');
    expect(error.message).not.toBe('');
    expect(typeof error.error).toBe('string');
    if (error.field !== undefined) expect(typeof error.field).toBe('string');
  }
}

async function send(
  server: TestServer,
  request: Request,
  ids: { bootstrapId: string; issuedJti: string },
): Promise<ApiResponse> {
  const path = request.path.replace(BOOTSTRAP_ID, ids.bootstrapId).replace(ISSUED_JTI, ids.issuedJti);
  if (request.transport === undefined) return server.call(request.method, path, request);
  const bytes = new TextEncoder().encode(request.body);
  const half = Math.floor(bytes.length / 2);
  const body =
    request.transport === 'untyped'
      ? new Blob([bytes])
      : new ReadableStream({
          start(controller) {
            controller.enqueue(bytes.slice(0, half));
            controller.enqueue(bytes.slice(half));
            controller.close();
          },
        });
  const response = await fetch(`${server.url}${path}`, {
    method: request.method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...request.headers },
    body,
    duplex: 'half',
  } as RequestInit);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: JSON.parse(text) };
}

/** Row counts and contents of every table, read through a separate read-only connection. */
function databaseState(dbPath: string) {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return Object.fromEntries(
      serviceTables(db).map((table) => {
        const count = (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
        const contents = db.prepare(`SELECT * FROM ${table} ORDER BY rowid`).all();
        return [table, { count, contents }];
      }),
    );
  } finally {
    db.close();
  }
}

/** What the API shows: namespaces, brokers, their keys and revocations, admin keys. */
async function apiState(server: TestServer) {
  const get = async (path: string, token: string | null = ADMIN_TOKEN) => {
    const response = await server.call('GET', path, { token });
    expect(response.status).toBe(200);
    return response.body;
  };
  const namespaces = await get('/v1/namespaces?per_page=100');
  const state: Record<string, unknown> = { namespaces, adminKeys: await get('/v1/admin-keys?per_page=100') };
  for (const { name } of namespaces.result as Array<{ name: string }>) {
    const brokers = await get(`/v1/namespaces/${name}/brokers?per_page=100`);
    state[name] = { namespace: await get(`/v1/namespaces/${name}`), brokers };
    for (const { name: brokerName } of brokers.result as Array<{ name: string }>) {
      const base = `/v1/namespaces/${name}/brokers/${brokerName}`;
      state[`${name}/${brokerName}`] = {
        broker: await get(base),
        revocations: await get(`${base}/revocations?per_page=100`),
        feed: await get(`${base}/revocations?since=0`),
        keys: await get(`${base}/publickeys`, null),
        keySet: await get(`${base}/jwks.json`, null),
        signingKeys: await get(`${base}/signing-keys`),
        sinks: await get(`${base}/revocation-sinks?per_page=100`),
      };
    }
  }
  return state;
}

describe('bad input on every route', () => {
  let server: TestServer;
  let bootstrapId: string;
  let issuedJti: string;
  let apiBefore: unknown;
  let databaseBefore: ReturnType<typeof databaseState>;

  beforeAll(async () => {
    server = await startTestServer();
    await createBroker(server, 'home', 'sensors');
    await createBroker(server, 'home', 'limited', { expiration: 3600, algorithm: 'ES256' });
    await createBroker(server, 'home', 'native', { expiration: 3600, claim_profile: 'emqx' });
    await createBroker(server, 'other', 'sensors');
    const issued = await server.call('POST', credentials, {
      json: { clientid: ['d1', 'd2', 'd3'], detail: true },
    });
    expect(issued.status).toBe(200);
    const [revoked1, revoked2, live] = issued.body.result.map(
      (credential: { jti: string }) => credential.jti,
    );
    issuedJti = live;
    expect((await server.call('POST', `${revocations}?jti=${revoked1},${revoked2}`)).status).toBe(200);
    expect((await server.call('DELETE', `${revocations}?jti=${revoked2}`)).status).toBe(200);
    // Sinks made after the last change: nothing for them to deliver, so none of them changes either.
    for (const body of [
      { ...validSink, name: 'rabbit' },
      { ...webhookSink, name: 'hook', secret: `whsec_${btoa('k'.repeat(32))}` },
    ]) {
      const sink = await server.call('POST', sinks, { json: body });
      expect(sink.status, JSON.stringify(sink.body)).toBe(200);
    }
    const key = await server.call('POST', '/v1/admin-keys', {
      json: { name: 'scoped', namespace: 'other', permission: 'read' },
    });
    expect(key.status).toBe(200);
    const keys = await server.call('GET', '/v1/admin-keys');
    bootstrapId = keys.body.result.find((k: { name: string }) => k.name === 'bootstrap').id;

    apiBefore = await apiState(server);
    databaseBefore = databaseState(server.dbPath);
    expect(databaseBefore.issued_credentials!.count).toBe(3);
    expect(databaseBefore.revocation_events!.count).toBe(3);
  });
  afterAll(() => server.destroy());

  it('has a row for every route', () => {
    const routes = new Set(
      rows.map((row) => {
        const path = new URL(row.path, 'http://x').pathname
          .replace(/^\/client\/v4\/accounts\/[^/]+\/pubsub/, '/v1')
          .replace(/^\/v1\/namespaces\/[^/]+/, '/v1/namespaces/{ns}')
          .replace(/\/brokers\/[^/]+/, '/brokers/{b}')
          .replace(/\/signing-keys\/(?!rotate$)[^/]+\/revoke$/, '/signing-keys/{kid}/revoke')
          .replace(/\/admin-keys\/.+/, '/admin-keys/{id}');
        return `${row.method} ${path}`;
      }),
    );
    for (const route of [
      'GET /v1/namespaces',
      'POST /v1/namespaces',
      'GET /v1/namespaces/{ns}',
      'PATCH /v1/namespaces/{ns}',
      'DELETE /v1/namespaces/{ns}',
      'GET /v1/namespaces/{ns}/brokers',
      'POST /v1/namespaces/{ns}/brokers',
      'GET /v1/namespaces/{ns}/brokers/{b}',
      'PATCH /v1/namespaces/{ns}/brokers/{b}',
      'DELETE /v1/namespaces/{ns}/brokers/{b}',
      'GET /v1/namespaces/{ns}/brokers/{b}/credentials',
      'POST /v1/namespaces/{ns}/brokers/{b}/credentials',
      'POST /v1/namespaces/{ns}/brokers/{b}/revocations',
      'GET /v1/namespaces/{ns}/brokers/{b}/revocations',
      'DELETE /v1/namespaces/{ns}/brokers/{b}/revocations',
      'GET /v1/namespaces/{ns}/brokers/{b}/publickeys',
      'GET /v1/namespaces/{ns}/brokers/{b}/jwks.json',
      'GET /v1/namespaces/{ns}/brokers/{b}/signing-keys',
      'POST /v1/namespaces/{ns}/brokers/{b}/signing-keys/rotate',
      'POST /v1/namespaces/{ns}/brokers/{b}/signing-keys/{kid}/revoke',
      'POST /v1/namespaces/{ns}/brokers/{b}/revocation-sinks',
      'GET /v1/namespaces/{ns}/brokers/{b}/revocation-sinks',
      'GET /v1/namespaces/{ns}/brokers/{b}/revocation-sinks/rabbit',
      'PATCH /v1/namespaces/{ns}/brokers/{b}/revocation-sinks/rabbit',
      'DELETE /v1/namespaces/{ns}/brokers/{b}/revocation-sinks/rabbit',
      'POST /v1/admin-keys',
      'GET /v1/admin-keys',
      'DELETE /v1/admin-keys/{id}',
    ]) {
      expect(routes).toContain(route);
    }
  });

  it.each(rows)('$method $path: $name -> $status', async (row) => {
    const response = await send(server, row, { bootstrapId, issuedJti });
    expect({ status: response.status, body: response.body }).toMatchObject({ status: row.status });
    expectFailureEnvelope(response);
    if (row.status === 400) {
      const fields = new Set(response.body.errors.map((error: EnvelopeError) => error.field ?? null));
      expect([...fields]).toEqual([row.field]);
      expect(response.body.errors[0].error).toBe('invalid_input');
    }
    if (row.status === 401) {
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="gatepass"');
      // Generic on the wire: the presented key is never echoed.
      expect(JSON.stringify(response.body)).not.toContain(ADMIN_TOKEN.slice(4));
      expect(JSON.stringify(response.body)).not.toContain('not-a-key');
    }
  });

  it('wrote nothing: the API and every table are as before the table ran', async () => {
    expect(await apiState(server)).toEqual(apiBefore);
    const after = databaseState(server.dbPath);
    expect(Object.keys(after)).toContain('audit_events');
    for (const table of Object.keys(databaseBefore)) {
      expect({ table, count: after[table]!.count }).toEqual({ table, count: databaseBefore[table]!.count });
    }
    expect(after).toEqual(databaseBefore);
    expect(server.logs.filter((line) => line.level === 'error')).toEqual([]);
  });
});

// ---- properties: random input never reaches a 5xx, and only valid input succeeds

/** The client id rule (docs/api.md), at the default max_client_id_length of 128. */
const CLIENT_ID = /^[0-9A-Za-z._@:|-]{1,128}$/;
const RESOURCE_NAME = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;
const LONE_SURROGATE = /\p{Cs}/u;
const utf8 = new TextEncoder();

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const onlyKeys = (value: Json, keys: readonly string[]) =>
  Object.keys(value).every((key) => keys.includes(key));
const isInteger = (value: unknown, min: number, max: number): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max;
const isText = (value: unknown, min: number, max: number): value is string =>
  typeof value === 'string' && value.length >= min && value.length <= max && !LONE_SURROGATE.test(value);

/** An independent reading of the topic filter rules (MQTT 5 §4.7, 1024-byte ACL limit). */
function isFilter(value: unknown): value is string {
  if (!isText(value, 1, Number.POSITIVE_INFINITY) || value.includes('\u0000')) return false;
  if (utf8.encode(value).byteLength > 1024) return false;
  const levels = value.split('/');
  return levels.every(
    (level, i) => (level.length <= 1 || !/[+#]/.test(level)) && (level !== '#' || i === levels.length - 1),
  );
}
const isFilterList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.length <= 32 && value.every(isFilter);
const isAcl = (value: unknown) =>
  value === '#' ||
  (isObject(value) && onlyKeys(value, ['pub', 'sub']) && isFilterList(value.pub) && isFilterList(value.sub));
const isExpiration = (value: unknown) => isInteger(value, -1, MAX_EXPIRATION) && value !== 0;
const distinct = (values: string[]) => new Set(values).size;

const CREDENTIAL_FIELDS = [
  'number',
  'type',
  'clientid',
  'topicAcl',
  'pub',
  'sub',
  'expiration',
  'detail',
] as const;

/** Whether POST .../credentials must accept this body (broker without an expiration). */
function credentialsBodyIsValid(body: unknown): boolean {
  if (!isObject(body) || !onlyKeys(body, CREDENTIAL_FIELDS)) return false;
  const { number, type, clientid, topicAcl, pub = [], sub = [], expiration, detail } = body;
  if (number !== undefined && !isInteger(number, 1, 100)) return false;
  if (detail !== undefined && typeof detail !== 'boolean') return false;
  if (type !== undefined && type !== 'TOKEN') return false;
  if (expiration !== undefined && !isExpiration(expiration)) return false;
  if (clientid !== undefined) {
    if (!Array.isArray(clientid) || clientid.length > 100) return false;
    if (!clientid.every((id) => typeof id === 'string' && CLIENT_ID.test(id))) return false;
    if (distinct(clientid) !== clientid.length) return false;
  }
  if (!isFilterList(pub) || !isFilterList(sub)) return false;
  if (topicAcl !== undefined && !Array.isArray(topicAcl)) {
    return isAcl(topicAcl) && pub.length === 0 && sub.length === 0;
  }
  const both = topicAcl ?? [];
  return isFilterList(both) && distinct([...both, ...pub]) <= 32 && distinct([...both, ...sub]) <= 32;
}

/** Whether GET .../credentials must accept these query parameters (in order, repeats allowed). */
function credentialsQueryIsValid(pairs: Array<[string, string]>): boolean {
  const values = new Map<string, string[]>();
  for (const [key, value] of pairs) values.set(key, [...(values.get(key) ?? []), value]);
  if (![...values.keys()].every((key) => (CREDENTIAL_FIELDS as readonly string[]).includes(key)))
    return false;
  const decimal = (value: string, min: number, max: number) =>
    /^-?\d{1,16}$/.test(value) && Number(value) >= min && Number(value) <= max;
  const single = (key: string, valid: (value: string) => boolean) => {
    const given = values.get(key);
    return given === undefined || (given.length === 1 && valid(given[0]!));
  };
  if (!single('number', (value) => decimal(value, 1, 100))) return false;
  if (!single('type', (value) => value === 'TOKEN')) return false;
  if (!single('detail', (value) => value === 'true' || value === 'false')) return false;
  if (!single('expiration', (value) => decimal(value, -1, MAX_EXPIRATION) && Number(value) !== 0))
    return false;
  const clientid = values.get('clientid') ?? [];
  if (clientid.length > 100 || !clientid.every((id) => CLIENT_ID.test(id))) return false;
  if (distinct(clientid) !== clientid.length) return false;
  // A double-quoted filter is the filter inside the quotes; an opening quote never closed is refused.
  const unquoted = (value: string) =>
    value.startsWith('"') ? (value.length >= 2 && value.endsWith('"') ? value.slice(1, -1) : '') : value;
  const [both, pub, sub] = (['topicAcl', 'pub', 'sub'] as const).map((key) =>
    (values.get(key) ?? []).map(unquoted),
  );
  if (![both, pub, sub].every(isFilterList)) return false;
  return distinct([...both!, ...pub!]) <= 32 && distinct([...both!, ...sub!]) <= 32;
}

const BROKER_FIELDS = [
  'name',
  'auth_type',
  'algorithm',
  'description',
  'expiration',
  'default_topic_acl',
  'issuer',
  'audience',
  'claim_profile',
] as const;

/** Whether POST .../brokers must accept this body (or answer 409 for a name already taken). */
function brokerBodyIsValid(body: unknown): boolean {
  if (!isObject(body) || !onlyKeys(body, BROKER_FIELDS)) return false;
  const { name, auth_type, algorithm, description, expiration, default_topic_acl, issuer, audience } = body;
  const { claim_profile } = body;
  // emqx and tbmq need ES256 (their default) and an expiration (max_lifetime is not generated here).
  const native = claim_profile === 'emqx' || claim_profile === 'tbmq';
  if (native && (algorithm === 'EdDSA' || typeof expiration !== 'number')) return false;
  return (
    (claim_profile === undefined || claim_profile === 'standard' || native) &&
    typeof name === 'string' &&
    RESOURCE_NAME.test(name) &&
    (auth_type === undefined || auth_type === 'TOKEN') &&
    (algorithm === undefined || algorithm === 'EdDSA' || algorithm === 'ES256') &&
    (description === undefined || isText(description, 0, 1024)) &&
    (expiration === undefined || expiration === null || isInteger(expiration, 1, MAX_EXPIRATION)) &&
    (default_topic_acl === undefined || isAcl(default_topic_acl)) &&
    (issuer === undefined || isText(issuer, 1, 256)) &&
    (audience === undefined || isText(audience, 1, 256))
  );
}

// -- arbitraries: values valid by construction, and noise

const literalLevel = fc.string({
  unit: fc.constantFrom('a', 'b', 'z', '0', '$', ' ', '-', 'é', '😀'),
  maxLength: 4,
});
const validFilter = fc
  .tuple(fc.array(fc.oneof(literalLevel, fc.constant('+')), { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([levels, hash]) => [...levels, ...(hash ? ['#'] : [])].join('/') || 'x');
const validAcl = fc.oneof(
  fc.constant('#'),
  fc.record({ pub: fc.array(validFilter, { maxLength: 4 }), sub: fc.array(validFilter, { maxLength: 4 }) }),
);
const validClientId = fc.stringMatching(/^[0-9A-Za-z._@:|-]{1,40}$/);
const validExpiration = fc.oneof(fc.constant(-1), fc.integer({ min: 1, max: MAX_EXPIRATION }));

const validCredentialsBody = fc
  .tuple(
    fc.record(
      {
        number: fc.integer({ min: 1, max: 100 }),
        type: fc.constant('TOKEN'),
        clientid: fc.uniqueArray(validClientId, { maxLength: 5 }),
        expiration: validExpiration,
        detail: fc.boolean(),
      },
      { requiredKeys: [] },
    ),
    fc.oneof(
      fc.record(
        {
          topicAcl: fc.array(validFilter, { maxLength: 10 }),
          pub: fc.array(validFilter, { maxLength: 10 }),
          sub: fc.array(validFilter, { maxLength: 10 }),
        },
        { requiredKeys: [] },
      ),
      fc.record({ topicAcl: validAcl }),
    ),
  )
  .map(([fields, acl]): Json => ({ ...fields, ...acl }));

const noisyText = fc.string({
  unit: fc.constantFrom(
    'a',
    'B',
    '0',
    '_',
    '-',
    '.',
    ' ',
    '/',
    '+',
    '#',
    '\u0000',
    '\u0007',
    'é',
    '😀',
    '\ud800',
    '\udc00',
  ),
  maxLength: 8,
});
const noise: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  noisyText,
  fc.integer({ min: -3, max: 105 }),
  fc.constantFrom(0, -0, -1, -2, 0.5, 1.5, 1e300, 2 ** 53, MAX_EXPIRATION, MAX_EXPIRATION + 1, null, true),
  fc.constantFrom(
    '',
    '#',
    '+',
    'TOKEN',
    'PASSWORD',
    'EdDSA',
    'ES256',
    'RS256',
    '5',
    'Home',
    'a-',
    'x'.repeat(257),
  ),
  fc.constantFrom('standard', 'emqx', 'tbmq', 'EMQX'),
  fc.array(noisyText, { maxLength: 4 }),
  fc.array(validClientId, { maxLength: 3 }),
  fc.array(validFilter, { minLength: 30, maxLength: 34 }),
  fc.record({ pub: fc.array(noisyText, { maxLength: 3 }), sub: fc.array(noisyText, { maxLength: 3 }) }),
  fc.record({ pub: fc.array(validFilter, { maxLength: 2 }) }),
);

/** A valid body, then up to three fields overwritten with noise, or (rarely) any JSON value at all. */
function mutated(valid: fc.Arbitrary<Json>, fields: readonly string[]) {
  return fc
    .record({
      base: valid,
      overrides: fc.array(fc.tuple(fc.constantFrom(...fields, 'extra'), noise), { maxLength: 3 }),
      // fc.option's freq is the odds of nil (1 in freq): a whole random JSON value one time in ten.
      whole: fc.oneof(
        { weight: 9, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
      ),
    })
    .map(({ base, overrides, whole }) => ({
      body: whole ?? { ...base, ...Object.fromEntries(overrides) },
      byConstruction: whole === null && overrides.length === 0,
    }));
}

const queryValue = fc.oneof(
  validClientId,
  validFilter,
  noisyText.filter((text) => !LONE_SURROGATE.test(text)),
  fc.string({ unit: 'binary', maxLength: 10 }),
  fc.integer({ min: -3, max: 105 }).map(String),
  fc.constantFrom('', '1e2', '1.5', ' 5', '-0', '+5', 'TOKEN', 'PASSWORD', '-1', String(MAX_EXPIRATION + 1)),
  fc.constantFrom('"#"', '"', '""', '"a/+"', '"a', 'a"'),
);
const queryPairs = fc.array(
  fc.tuple(
    fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...CREDENTIAL_FIELDS) },
      { weight: 1, arbitrary: fc.stringMatching(/^[a-z_]{1,10}$/) },
    ),
    queryValue,
  ),
  { maxLength: 8 },
);

const PROPERTY_RUNS = { numRuns: 100 };

describe('random input', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
    await createBroker(server, 'home', 'sensors');
  });
  afterAll(() => server.destroy());

  function expectNoServerError(response: ApiResponse) {
    expect(response.status).toBeLessThan(500);
    if (response.status >= 400) expectFailureEnvelope(response);
    else expect(response.body.success).toBe(true);
  }

  it('POST credentials: never a 5xx, and 2xx exactly for valid bodies', async () => {
    await fc.assert(
      fc.asyncProperty(mutated(validCredentialsBody, CREDENTIAL_FIELDS), async ({ body, byConstruction }) => {
        const sent: unknown = JSON.parse(JSON.stringify(body));
        const valid = credentialsBodyIsValid(sent);
        if (byConstruction) expect(valid).toBe(true);
        const response = await server.call('POST', credentials, { json: sent });
        expectNoServerError(response);
        expect(response.status).toBe(valid ? 200 : 400);
        if (valid && isObject(sent)) {
          const ids = Array.isArray(sent.clientid) && sent.clientid.length > 0 ? sent.clientid : undefined;
          const result = response.body.result;
          expect(Array.isArray(result)).toBe(sent.detail === true);
          const issued = Array.isArray(result)
            ? result.map((credential: { client_id: string }) => credential.client_id)
            : Object.keys(result);
          if (ids) expect(issued.sort()).toEqual([...ids].sort());
          else expect(issued).toHaveLength(typeof sent.number === 'number' ? sent.number : 1);
        }
      }),
      PROPERTY_RUNS,
    );
  });

  it('GET credentials: never a 5xx, and 2xx exactly for valid query strings', async () => {
    await fc.assert(
      fc.asyncProperty(queryPairs, async (pairs) => {
        const search = pairs.map(([key, value]) => `${key}=${encodeURIComponent(value)}`).join('&');
        const response = await server.call('GET', `${credentials}?${search}`);
        expectNoServerError(response);
        expect(response.status).toBe(credentialsQueryIsValid(pairs) ? 200 : 400);
      }),
      PROPERTY_RUNS,
    );
  });

  it('POST brokers: never a 5xx, and 2xx exactly for valid bodies with a new name', async () => {
    const validBroker = fc.record(
      {
        name: fc.stringMatching(/^[a-z][a-z0-9-]{0,8}[a-z0-9]$/),
        auth_type: fc.constant('TOKEN'),
        algorithm: fc.constantFrom('EdDSA', 'ES256'),
        description: fc.string({ unit: 'grapheme', maxLength: 20 }),
        expiration: fc.option(fc.integer({ min: 1, max: MAX_EXPIRATION }), { nil: null }),
        default_topic_acl: validAcl,
        issuer: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
        audience: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
        claim_profile: fc.constant('standard'),
      },
      { requiredKeys: ['name'] },
    );
    const taken = new Set(['sensors']);
    await fc.assert(
      fc.asyncProperty(mutated(validBroker, BROKER_FIELDS), async ({ body, byConstruction }) => {
        const sent: unknown = JSON.parse(JSON.stringify(body));
        const valid = brokerBodyIsValid(sent);
        if (byConstruction) expect(valid).toBe(true);
        const response = await server.call('POST', '/v1/namespaces/home/brokers', { json: sent });
        expectNoServerError(response);
        const name = isObject(sent) ? String(sent.name) : '';
        expect(response.status).toBe(valid ? (taken.has(name) ? 409 : 200) : 400);
        if (response.status === 200) taken.add(name);
      }),
      PROPERTY_RUNS,
    );
  });
});
