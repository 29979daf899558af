// Tokens that EMQX's and TBMQ's own JWT authenticators verify, checked the way their documentation and source
// say they do (neither broker runs here): signature against jwks.json with jose, the claims they compare, and
// the ACL claims in their own format, which must grant what gatepass's verifier grants.
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorize, compileAcl } from '../../src/core/acl.js';
import type { TopicAcl } from '../../src/core/claims.js';
import { emqxAclRules } from '../../src/verifier/adapters/emqx.js';
import { createBroker, startTestServer, type TestServer } from '../support/server.js';

const HOUR = 3600;
let now = Date.UTC(2031, 2, 1);
let server: TestServer;

const brokerPath = (broker: string) => `/v1/namespaces/home/brokers/${broker}`;
/** `alerts/${username}` is a literal filter to gatepass, and a placeholder to EMQX. */
const PLACEHOLDER_FILTER = ['alerts', '$' + '{username}'].join('/');
const ACL: TopicAcl = { pub: ['plant/line-3/#', 'a.b/+/c'], sub: ['plant/commands/+', PLACEHOLDER_FILTER] };

async function issue(broker: string, body: Record<string, unknown> = {}): Promise<string> {
  const issued = await server.call('POST', `${brokerPath(broker)}/credentials`, {
    json: { clientid: ['sensor-17'], topicAcl: ACL, ...body },
  });
  expect(issued.status, JSON.stringify(issued.body)).toBe(200);
  return issued.body.result['sensor-17'];
}

/** The signature and standard claims as a broker's JWT authenticator checks them, against jwks.json. */
async function verifiedPayload(broker: string, token: string) {
  const keySet = createRemoteJWKSet(new URL(`${server.url}${brokerPath(broker)}/jwks.json`));
  const { payload, protectedHeader } = await jwtVerify(token, keySet, {
    algorithms: ['ES256'],
    issuer: 'gatepass',
    audience: `${broker}.home`,
    currentDate: new Date(now),
  });
  expect(protectedHeader.alg).toBe('ES256');
  return payload;
}

beforeAll(async () => {
  server = await startTestServer({ clock: () => now, env: { GATEPASS_CRON_INTERVAL: '0' } });
});
afterAll(() => server.destroy());

describe('claim_profile on brokers', () => {
  it('defaults to standard; emqx and tbmq default to ES256 and need an expiration', async () => {
    expect(await createBroker(server, 'home', 'std')).toMatchObject({
      claim_profile: 'standard',
      algorithm: 'EdDSA',
    });
    expect(
      await createBroker(server, 'home', 'emqx', { claim_profile: 'emqx', expiration: HOUR }),
    ).toMatchObject({
      claim_profile: 'emqx',
      algorithm: 'ES256',
    });
    expect(
      await createBroker(server, 'home', 'tbmq', { claim_profile: 'tbmq', max_lifetime: HOUR }),
    ).toMatchObject({
      claim_profile: 'tbmq',
      algorithm: 'ES256',
    });
    const refusals: Array<[Record<string, unknown>, string, RegExp]> = [
      [
        { claim_profile: 'emqx', expiration: HOUR, algorithm: 'EdDSA' },
        'claim_profile',
        /needs algorithm ES256/,
      ],
      [{ claim_profile: 'tbmq', algorithm: 'EdDSA', expiration: HOUR }, 'claim_profile', /TBMQ/],
      [{ claim_profile: 'emqx' }, 'claim_profile', /needs an expiration or a max_lifetime/],
    ];
    for (const [settings, field, message] of refusals) {
      const refused = await server.call('POST', '/v1/namespaces/home/brokers', {
        json: { name: 'refused', ...settings },
      });
      expect(refused.status).toBe(400);
      expect(refused.body.errors[0]).toMatchObject({
        error: 'invalid_input',
        field,
        message: expect.stringMatching(message),
      });
    }
    // Later changes are held to the same rules: the algorithm is fixed at creation.
    const toEmqx = await server.call('PATCH', brokerPath('std'), {
      json: { claim_profile: 'emqx', expiration: HOUR },
    });
    expect(toEmqx.status).toBe(400);
    expect(toEmqx.body.errors[0].field).toBe('claim_profile');
    const noExpiry = await server.call('PATCH', brokerPath('emqx'), { json: { expiration: null } });
    expect(noExpiry.status).toBe(400);
    expect(noExpiry.body.errors[0].field).toBe('expiration');
    const back = await server.call('PATCH', brokerPath('emqx'), { json: { claim_profile: 'standard' } });
    expect(back.body.result.claim_profile).toBe('standard');
    const again = await server.call('PATCH', brokerPath('emqx'), { json: { claim_profile: 'emqx' } });
    expect(again.body.result.claim_profile).toBe('emqx');
  });

  it('adds no claims in the standard profile', async () => {
    const payload = decodeJwt(await issue('std'));
    expect(Object.keys(payload).sort()).toEqual(['aud', 'iat', 'iss', 'jti', 'sub', 'topicAcl']);
  });
});

describe('claim_profile emqx', () => {
  it("gives EMQX's JWT authenticator a token it verifies from jwks.json and an acl it cannot widen", async () => {
    const token = await issue('emqx');
    const payload = await verifiedPayload('emqx', token);
    // EMQX's verify_claims compare strings: iss, aud, and sub against ${clientid}.
    expect(payload).toMatchObject({ iss: 'gatepass', aud: 'emqx.home', sub: 'sensor-17', topicAcl: ACL });
    // exp is what EMQX checks (Now < exp) and disconnects at (disconnect_after_expire).
    expect(payload.exp).toBe(Math.floor(now / 1000) + HOUR);
    // The 5.5+ rule list EMQX parses (emqx_authz_rule_raw): permission, action, topic, and nothing else.
    const acl = payload.acl as Array<Record<string, unknown>>;
    for (const rule of acl) {
      expect(Object.keys(rule).sort()).toEqual(['action', 'permission', 'topic']);
      expect(['allow', 'deny']).toContain(rule.permission);
      expect(['publish', 'subscribe', 'all']).toContain(rule.action);
      expect(typeof rule.topic).toBe('string');
    }
    // Exactly the rules the EMQX webhook answers with, proven against EMQX's matcher in emqx-acl.test.ts.
    expect(acl).toEqual(emqxAclRules(ACL));
    expect(acl.at(-3)).toEqual({ permission: 'deny', action: 'all', topic: '#' });
    // No EMQX placeholder passes: the filter holding ${username} is left out, so EMQX denies it.
    expect(JSON.stringify(acl)).not.toContain('${');
    // gatepass's own verifier still reads topicAcl: the EMQX webhook accepts the same token.
    const hook = await server.call('POST', `${brokerPath('emqx')}/hooks/emqx`, {
      token: null,
      json: { clientid: 'sensor-17', password: token },
    });
    expect(hook.body.result).toBe('allow');
    expect(hook.body.acl).toEqual(acl);
  });

  it('keeps the claims when a token is refreshed, and refuses tokens over the size cap', async () => {
    const token = await issue('emqx');
    now += 60_000;
    const refreshed = await server.call('POST', `${brokerPath('emqx')}/credentials/refresh`, {
      token: null,
      json: { token },
    });
    expect(refreshed.status).toBe(200);
    expect(decodeJwt(refreshed.body.result['sensor-17']).acl).toEqual(emqxAclRules(ACL));

    // 20 filters of 60 bytes a direction fit a standard token but not with their EMQX rules.
    const filters = Array.from(
      { length: 20 },
      (_, i) => `site/${String(i).padStart(2, '0')}/${'x'.repeat(50)}/+`,
    );
    const wide = { pub: filters, sub: filters.map((filter) => `${filter}/in`) };
    expect(
      (await server.call('POST', `${brokerPath('std')}/credentials`, { json: { topicAcl: wide } })).status,
    ).toBe(200);
    const tooLarge = await server.call('POST', `${brokerPath('emqx')}/credentials`, {
      json: { topicAcl: wide },
    });
    expect(tooLarge.status).toBe(400);
    expect(tooLarge.body.errors[0]).toMatchObject({
      field: 'topicAcl',
      message: expect.stringContaining('emqx claims'),
    });
  });
});

describe('claim_profile tbmq', () => {
  it("gives TBMQ's JWT provider a token it verifies from jwks.json, a client type and regex rules", async () => {
    const token = await issue('tbmq');
    const payload = await verifiedPayload('tbmq', token);
    expect(decodeProtectedHeader(token).kid).toEqual(expect.any(String));
    // TBMQ's authClaims compare strings (getClaimAsString): iss, and sub against ${clientId}.
    expect(payload).toMatchObject({
      iss: 'gatepass',
      sub: 'sensor-17',
      topicAcl: ACL,
      tbmq_client_type: 'DEVICE',
    });
    expect(payload.exp).toBe(Math.floor(now / 1000) + HOUR);
    // getStringListClaim: lists of strings, each a regular expression TBMQ matches whole.
    const pub = payload.tbmq_pub as string[];
    const sub = payload.tbmq_sub as string[];
    const grants = (patterns: string[], topic: string) =>
      patterns.some((pattern) => new RegExp(`^(?:${pattern})$`).test(topic));
    const acl = compileAcl(ACL);
    const topics = ['plant/line-3', 'plant/line-3/temp', 'plant/line-4/temp', 'a.b/x/c', 'aXb/x/c', '$SYS/x'];
    for (const topic of topics) {
      expect({ topic, granted: grants(pub, topic) }).toEqual({
        topic,
        granted: authorize(acl, 'publish', topic).ok,
      });
    }
    const filters = [
      'plant/commands/+',
      'plant/commands/reboot',
      'plant/commands/#',
      PLACEHOLDER_FILTER,
      'alerts/+',
    ];
    for (const filter of filters) {
      expect({ filter, granted: grants(sub, filter) }).toEqual({
        filter,
        granted: authorize(acl, 'subscribe', filter).ok,
      });
    }
  });

  it('sends empty rule lists for an ACL that grants nothing, so TBMQ falls back to nothing', async () => {
    const payload = decodeJwt(await issue('tbmq', { topicAcl: { pub: [], sub: [] } }));
    expect(payload).toMatchObject({ tbmq_pub: [], tbmq_sub: [] });
  });
});
