// Client ids through the real server: the character set and per-broker length (max_client_id_length) apply
// alike to ids a caller names, ids a token exchange templates from an identity, and the `sub` the verifier
// accepts; each credential issued is checked by the real verifier against the broker's published keys.
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: an ACL template spells ${sub}
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStaticRevocations, createVerifier } from '../../src/verifier/index.js';
import { type LocalIdp, startIdp } from '../support/identity.js';
import { type ApiResponse, createBroker, startTestServer, type TestServer } from '../support/server.js';

const ns = '/v1/namespaces/home';
const UUID = '3f2b8c1e-9d4a-4b7e-8f21-6c0a5e9d7b13';
/** What identity providers put in `sub`, and what devices are named after. */
const ACCEPTED = [
  UUID,
  'a.b@c',
  'jane.doe@example.com',
  'google-oauth2|104729305566321180219',
  'urn:dev:ops:32473-Sensor-1',
  '01JDX4Q3N8T7K9ZC5V2M6B1R0A',
  'x'.repeat(128),
];
/** Characters that would change what a topic or an ACL template means, or what a log line says. */
const REFUSED: Array<[string, string]> = [
  ['a slash', 'a/b'],
  ["a '+'", 'a+b@c'],
  ["a '#'", 'a#'],
  ["a leading '$'", '$SYS'],
  ["a '$' anywhere", 'a$b'],
  ['U+0000', 'a\u0000b'],
  ['a space', 'a b'],
  ['a tab', 'a\tb'],
  ['a line break', 'a\nb'],
  ['non-ASCII', 'josé'],
  ["a '*'", 'a*'],
  ['a quote', 'a"b'],
  ['empty', ''],
  ['257 characters', 'x'.repeat(257)],
];

let server: TestServer;
let idp: LocalIdp;

function expectInvalid(response: ApiResponse, field: string) {
  expect({ status: response.status, body: response.body }).toMatchObject({
    status: 400,
    body: { success: false, errors: [{ error: 'invalid_input', field }] },
  });
}

/** The real verifier, for `broker`, reading the keys gatepass publishes. */
function verifierFor(broker: string) {
  return createVerifier({
    keys: `${server.url}${ns}/brokers/${broker}/publickeys`,
    issuer: 'gatepass',
    audience: `${broker}.home`,
    algorithms: ['EdDSA'],
    revocations: createStaticRevocations([]),
  });
}

async function expectConnects(broker: string, clientId: string, token: string) {
  const result = await verifierFor(broker).verifyConnect({ clientId, password: token });
  expect(result.ok ? result.clientId : result).toBe(clientId);
}

beforeAll(async () => {
  server = await startTestServer();
  await createBroker(server, 'home', 'open');
  idp = await startIdp('ES256');
});
afterAll(async () => {
  await Promise.all([server?.destroy(), idp?.close()]);
});

describe('max_client_id_length', () => {
  it('is 128 unless a broker says otherwise; create and patch set it, get shows it', async () => {
    expect((await server.call('GET', `${ns}/brokers/open`)).body.result.max_client_id_length).toBe(128);
    const strict = await createBroker(server, 'home', 'strict', { max_client_id_length: 36 });
    expect(strict.max_client_id_length).toBe(36);
    const patched = await server.call('PATCH', `${ns}/brokers/strict`, {
      json: { max_client_id_length: 40 },
    });
    expect(patched.body.result.max_client_id_length).toBe(40);
    expect((await server.call('GET', `${ns}/brokers/strict`)).body.result.max_client_id_length).toBe(40);
  });

  it.each([
    ['below 26, the length of a generated id', 25],
    ['above 256', 257],
    ['a fraction', 40.5],
    ['null', null],
  ])('refuses %s', async (_, value) => {
    expectInvalid(
      await server.call('POST', `${ns}/brokers`, { json: { name: 'bad', max_client_id_length: value } }),
      'max_client_id_length',
    );
    expectInvalid(
      await server.call('PATCH', `${ns}/brokers/open`, { json: { max_client_id_length: value } }),
      'max_client_id_length',
    );
  });
});

describe('caller-chosen client ids', () => {
  it('issues UUIDs, e-mail-like ids and IdP subjects, in the query and in JSON, that the verifier accepts', async () => {
    const query = ACCEPTED.map((id) => `clientid=${encodeURIComponent(id)}`).join('&');
    const fromQuery = await server.call('GET', `${ns}/brokers/open/credentials?${query}`);
    expect(fromQuery.status, JSON.stringify(fromQuery.body)).toBe(200);
    const fromJson = await server.call('POST', `${ns}/brokers/open/credentials`, {
      json: { clientid: ACCEPTED },
    });
    expect(fromJson.status, JSON.stringify(fromJson.body)).toBe(200);
    for (const issued of [fromQuery.body.result, fromJson.body.result]) {
      expect(Object.keys(issued)).toEqual(ACCEPTED);
      for (const [clientId, token] of Object.entries(issued as Record<string, string>)) {
        await expectConnects('open', clientId, token);
      }
    }
  });

  it.each(REFUSED)('refuses an id with %s, naming it (query and JSON)', async (_, id) => {
    expectInvalid(
      await server.call('POST', `${ns}/brokers/open/credentials`, { json: { clientid: ['ok', id] } }),
      'clientid.1',
    );
    expectInvalid(
      await server.call(
        'GET',
        `${ns}/brokers/open/credentials?clientid=ok&clientid=${encodeURIComponent(id)}`,
      ),
      'clientid.1',
    );
  });

  it("refuses an id longer than the broker's max_client_id_length, and issues one that fits", async () => {
    const fits = 'd'.repeat(40);
    const json = await server.call('POST', `${ns}/brokers/strict/credentials`, {
      json: { clientid: [fits, `${fits}x`] },
    });
    expectInvalid(json, 'clientid.1');
    expect(json.body.errors[0].message).toMatch(/40/);
    expectInvalid(
      await server.call('GET', `${ns}/brokers/strict/credentials?clientid=${'e'.repeat(129)}`),
      'clientid.0',
    );
    expectInvalid(
      await server.call('GET', `${ns}/brokers/open/credentials?clientid=${'e'.repeat(129)}`),
      'clientid.0',
    );
    const ok = await server.call('GET', `${ns}/brokers/strict/credentials?clientid=${fits}`);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    await expectConnects('strict', fits, ok.body.result[fits]);
  });
});

describe('token exchange', () => {
  beforeAll(async () => {
    for (const broker of ['open', 'strict']) {
      const created = await server.call('POST', `${ns}/brokers/${broker}/identity-sources`, {
        json: {
          name: 'idp',
          kind: 'jwt',
          issuer: idp.url,
          jwks_url: idp.jwksUrl,
          audience: 'backend',
          algorithms: ['ES256'],
          acl_template: { pub: ['users/${sub}/#'], sub: [] },
        },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(200);
    }
  });

  const exchange = async (broker: string, sub: string) =>
    server.call('POST', `${ns}/brokers/${broker}/token-exchange`, {
      json: { subject_token: await idp.sign({ sub, aud: 'backend' }) },
    });

  it('makes a UUID or e-mail subject the client id, and the verifier accepts the credential', async () => {
    for (const sub of [UUID, 'jane.doe@example.com']) {
      const response = await exchange('open', sub);
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      expect(response.body.result.client_id).toBe(sub);
      await expectConnects('open', sub, response.body.result.token);
    }
  });

  it("refuses a subject that would make a client id over the broker's limit or outside the character set", async () => {
    for (const [broker, sub] of [
      ['strict', 'f'.repeat(41)],
      ['open', 'f'.repeat(129)],
      ['open', 'team a'],
      ['open', '$admin'],
    ]) {
      const response = await exchange(broker!, sub!);
      expect({ status: response.status, error: response.body.errors?.[0]?.error }).toEqual({
        status: 403,
        error: 'template_value_refused',
      });
    }
  });
});
