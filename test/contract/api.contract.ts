// The API contract every runtime must keep: one suite, run against the Node server (better-sqlite3) and the
// Worker in workerd (D1), over real HTTP.
import { createLocalJWKSet, decodeJwt, jwtVerify, SignJWT } from 'jose';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isUlid } from '../../src/core/ids.js';
import type { Call } from '../support/call.js';
import { startReceiver } from '../support/receiver.js';

export interface ContractTarget {
  url: string;
  /** Calls with an admin key for all namespaces unless `token` says otherwise (null: no key). */
  call: Call;
  destroy(): Promise<void>;
}

const NS = 'contract';
const OTHER_NS = 'contract-other';
const BROKER = 'sensors';
const LIFETIME = 3600;
const broker = `/v1/namespaces/${NS}/brokers/${BROKER}`;

export function describeApiContract(name: string, startTarget: () => Promise<ContractTarget>) {
  describe(`API contract: ${name}`, () => {
    let target: ContractTarget;
    let call: Call;

    beforeAll(async () => {
      target = await startTarget();
      call = target.call;
    });
    afterAll(async () => {
      await target?.destroy();
    });

    async function ok(method: string, path: string, options?: Parameters<Call>[2]) {
      const response = await call(method, path, options);
      expect(response.status, `${method} ${path}: ${JSON.stringify(response.body)}`).toBe(200);
      expect(response.body.success).toBe(true);
      return response.body.result;
    }

    async function jwks(path = broker) {
      return createLocalJWKSet(await ok('GET', `${path}/publickeys`, { token: null }));
    }

    function expectError(
      response: Awaited<ReturnType<Call>>,
      status: number,
      error: string,
      field?: string,
    ): void {
      expect(response.status, JSON.stringify(response.body)).toBe(status);
      expect(response.body).toMatchObject({ success: false, result: null });
      expect(response.body.errors[0]).toMatchObject({ error, ...(field === undefined ? {} : { field }) });
    }

    it('creates a namespace and a broker', async () => {
      expect(await ok('POST', '/v1/namespaces', { json: { name: NS } })).toMatchObject({ name: NS });
      expect(await ok('POST', '/v1/namespaces', { json: { name: OTHER_NS } })).toMatchObject({
        name: OTHER_NS,
      });
      const created = await ok('POST', `/v1/namespaces/${NS}/brokers`, {
        json: { name: BROKER, expiration: LIFETIME },
      });
      expect(created).toMatchObject({
        name: BROKER,
        namespace: NS,
        expiration: LIFETIME,
        algorithm: 'EdDSA',
        audience: `${BROKER}.${NS}`,
      });
      await ok('POST', `/v1/namespaces/${OTHER_NS}/brokers`, { json: { name: BROKER } });
      expect(await ok('GET', broker)).toMatchObject({ name: BROKER, expiration: LIFETIME });
    });

    it('issues 100 credentials in one call, each verifying against the served JWKS', async () => {
      const before = Math.floor(Date.now() / 1000);
      const credentials: Record<string, string> = await ok('GET', `${broker}/credentials?number=100`);
      const entries = Object.entries(credentials);
      expect(entries).toHaveLength(100);
      const keys = await jwks();
      const jtis = new Set<string>();
      for (const [clientId, token] of entries) {
        expect(isUlid(clientId)).toBe(true);
        const { payload } = await jwtVerify(token, keys, {
          issuer: 'gatepass',
          audience: `${BROKER}.${NS}`,
          algorithms: ['EdDSA'],
          typ: 'JWT',
        });
        expect(payload.sub).toBe(clientId);
        expect(payload.topicAcl).toBe('#');
        expect(payload.iat).toBeGreaterThanOrEqual(before - 1);
        expect(payload.exp! - payload.iat!).toBe(LIFETIME);
        jtis.add(payload.jti!);
      }
      expect(jtis.size).toBe(100);

      // All 100 records were stored: revoking them all (one call, 100 rows and 100 feed events) keeps each
      // token's exp, which only the issued-credential record holds.
      expect(await ok('POST', `${broker}/revocations`, { json: { jti: [...jtis] } })).toHaveLength(100);
      const listed: Array<{ jti: string; expires_on: string | null }> = await ok(
        'GET',
        `${broker}/revocations?per_page=100`,
      );
      expect(listed).toHaveLength(100);
      const expiries = new Map(
        Object.values(credentials).map((token) => {
          const { jti, exp } = decodeJwt(token);
          return [jti!, new Date(exp! * 1000).toISOString()];
        }),
      );
      for (const entry of listed) expect(entry.expires_on).toBe(expiries.get(entry.jti));
      await ok('DELETE', `${broker}/revocations?jti=${[...jtis].slice(0, 50).join(',')}`);
      await ok('DELETE', `${broker}/revocations?jti=${[...jtis].slice(50).join(',')}`);
      expect(await ok('GET', `${broker}/revocations`)).toEqual([]);
    });

    it('issues for given client ids with a topic ACL, in the query form and the JSON form', async () => {
      const query = await ok(
        'GET',
        `${broker}/credentials?clientid=device-1&clientid=device-2&pub=rooms/%2B/temp&sub=alerts/%23&expiration=60`,
      );
      expect(Object.keys(query)).toEqual(['device-1', 'device-2']);
      const { payload } = await jwtVerify(query['device-1'], await jwks());
      expect(payload).toMatchObject({
        sub: 'device-1',
        topicAcl: { pub: ['rooms/+/temp'], sub: ['alerts/#'] },
      });
      expect(payload.exp! - payload.iat!).toBe(60);

      const body = await ok('POST', `${broker}/credentials`, {
        json: { clientid: ['backend'], topicAcl: { pub: ['a/b'], sub: [] } },
      });
      const verified = await jwtVerify(body.backend, await jwks(), { audience: `${BROKER}.${NS}` });
      expect(verified.payload).toMatchObject({ sub: 'backend', topicAcl: { pub: ['a/b'], sub: [] } });
      expect(verified.payload.exp! - verified.payload.iat!).toBe(LIFETIME);
    });

    it('revokes, lists, un-revokes, and reports both in the feed', async () => {
      const [a, b, c] = (await ok('GET', `${broker}/credentials?number=3&detail=true`)).map(
        (credential: { token: string; jti: string }) => {
          expect(decodeJwt(credential.token).jti).toBe(credential.jti);
          return credential.jti;
        },
      );
      const start = await ok('GET', `${broker}/revocations?since=0`);
      expect(await ok('POST', `${broker}/revocations?jti=${a}&jti=${b}`)).toEqual([a, b]);
      // Idempotent; a jti never issued refuses the whole call, by name, and writes nothing.
      await ok('POST', `${broker}/revocations?jti=${a}`);
      const unknown = await call('POST', `${broker}/revocations?jti=${c},never-issued`);
      expectError(unknown, 404, 'not_found', 'jti');
      expect(unknown.body.errors[0].message).toContain('never-issued');
      expectError(await call('DELETE', `${broker}/revocations?jti=never-issued`), 404, 'not_found', 'jti');
      const listed: Array<{ jti: string }> = await ok('GET', `${broker}/revocations`);
      expect(listed.map((entry) => entry.jti).sort()).toEqual([a, b].sort());

      expect(await ok('DELETE', `${broker}/revocations?jti=${a}`)).toEqual([a]);
      expect((await ok('GET', `${broker}/revocations`)).map((entry: { jti: string }) => entry.jti)).toEqual([
        b,
      ]);
      // An empty body with a JSON content type is no body: the query is the request.
      await ok('POST', `${broker}/revocations?jti=${c}`, {
        body: '',
        headers: { 'content-type': 'application/json' },
      });
      await ok('DELETE', `${broker}/revocations?jti=${c}`);

      const feed = await ok('GET', `${broker}/revocations?since=${start.cursor}`);
      expect(feed.more).toBe(false);
      // Replaying the feed in order gives the current state (a repeated revoke may appear twice).
      const state = new Map<string, boolean>();
      for (const change of feed.changes as Array<{ jti: string; revoked: boolean }>) {
        state.set(change.jti, change.revoked);
      }
      expect(Object.fromEntries(state)).toEqual({ [a!]: false, [b!]: true, [c!]: false });
      expect(feed.changes.slice(0, 2).map((change: { jti: string }) => change.jti)).toEqual([a, b]);
      expect(feed.changes[0].exp).toBeTypeOf('number');
      const after = await ok('GET', `${broker}/revocations?since=${feed.cursor}`);
      expect(after).toMatchObject({ changes: [], cursor: feed.cursor, more: false });
    });

    it('refreshes a credential without an admin key; of concurrent revoke_old refreshes one wins', async () => {
      const { device: old } = await ok('POST', `${broker}/credentials`, {
        json: { clientid: ['device'], topicAcl: { pub: ['a/b'], sub: [] } },
      });
      const refresh = (json: unknown) => call('POST', `${broker}/credentials/refresh`, { token: null, json });
      const responses = await Promise.all([1, 2, 3].map(() => refresh({ token: old, revoke_old: true })));
      expect(responses.map((response) => response.status).sort()).toEqual([200, 401, 401]);
      const fresh: string = responses.find((response) => response.status === 200)!.body.result.device;
      const { payload } = await jwtVerify(fresh, await jwks(), { audience: `${BROKER}.${NS}` });
      expect(payload).toMatchObject({
        sub: 'device',
        topicAcl: { pub: ['a/b'], sub: [] },
        orig_iat: decodeJwt(old).iat,
      });
      const revoked: Array<{ jti: string }> = await ok('GET', `${broker}/revocations?per_page=100`);
      expect(revoked.map((entry) => entry.jti)).toContain(decodeJwt(old).jti);
      expectError(await refresh({ token: old }), 401, 'invalid_token');

      // Revoking the old jti by name revokes what was refreshed from it, transitively, in one transaction.
      const grandchild = (await refresh({ token: fresh })).body.result.device as string;
      await ok('POST', `${broker}/revocations?jti=${decodeJwt(old).jti}`);
      const withDescendants: Array<{ jti: string; descendant_of: string | null }> = await ok(
        'GET',
        `${broker}/revocations?per_page=100`,
      );
      for (const token of [fresh, grandchild]) {
        expect(withDescendants).toContainEqual(
          expect.objectContaining({ jti: decodeJwt(token).jti, descendant_of: decodeJwt(old).jti }),
        );
        expectError(await refresh({ token }), 401, 'invalid_token');
      }
      // Un-revoking it un-revokes what came with it (and the refresh's own revocation of it, named).
      await ok('DELETE', `${broker}/revocations?jti=${decodeJwt(old).jti}`);
      const left: Array<{ jti: string }> = await ok('GET', `${broker}/revocations?per_page=100`);
      for (const token of [old, fresh, grandchild]) {
        expect(left.map((entry) => entry.jti)).not.toContain(decodeJwt(token).jti);
      }
      expect((await refresh({ token: grandchild })).status).toBe(200);
      expect(await ok('POST', '/v1/maintenance/run')).toEqual({
        keys_rotated: 0,
        keys_removed: 0,
        revocations_pruned: 0,
        credentials_pruned: 0,
        events_pruned: 0,
        audit_events_pruned: 0,
        sink_changes_delivered: 0,
        sinks_failed: 0,
      });
    });

    it('serves public keys without an admin key, and nothing else', async () => {
      const keys = await ok('GET', `${broker}/publickeys`, { token: null });
      // The current key and the next one, published before it signs.
      expect(keys.keys).toHaveLength(2);
      for (const key of keys.keys) {
        expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
        expect(key.d).toBeUndefined();
      }
      // The same set as a plain JWK Set, cacheable, with an ETag a conditional request is answered 304 for.
      const plain = await fetch(`${target.url}${broker}/jwks.json`);
      expect(plain.status).toBe(200);
      expect(plain.headers.get('cache-control')).toBe('public, max-age=300');
      expect(await plain.json()).toEqual(keys);
      const etag = plain.headers.get('etag');
      expect(etag).toMatch(/^"[0-9a-f]+"$/);
      const conditional = await fetch(`${target.url}${broker}/jwks.json`, {
        headers: { 'if-none-match': etag! },
      });
      expect(conditional.status).toBe(304);
      expect(conditional.headers.get('etag')).toBe(etag);
      expect(conditional.headers.get('cache-control')).toBe('public, max-age=300');
      expectError(await call('GET', broker, { token: null }), 401, 'unauthorized');
      expectError(
        await call('GET', '/v1/namespaces', { token: `gpk_${'x'.repeat(43)}` }),
        401,
        'unauthorized',
      );
    });

    it('answers errors in the envelope: 400 with the field, 404, 409, 415', async () => {
      expectError(await call('GET', `${broker}/credentials?number=101`), 400, 'invalid_input', 'number');
      expectError(
        await call('POST', '/v1/namespaces', { json: { name: 'Not A Label' } }),
        400,
        'invalid_input',
        'name',
      );
      expectError(await call('GET', '/v1/namespaces/nowhere'), 404, 'not_found');
      expectError(await call('GET', `/v1/namespaces/${NS}/brokers/nobody/credentials`), 404, 'not_found');
      expectError(await call('GET', '/v1/no-such-route'), 404, 'not_found');
      expectError(await call('POST', '/v1/namespaces', { json: { name: NS } }), 409, 'conflict');
      expectError(
        await call('POST', `/v1/namespaces/${NS}/brokers`, { json: { name: BROKER } }),
        409,
        'conflict',
      );
      expectError(
        await call('POST', '/v1/namespaces', {
          body: JSON.stringify({ name: 'plain' }),
          headers: { 'content-type': 'text/plain' },
        }),
        415,
        'unsupported_media_type',
      );
    });

    it('serves the same API under the Cloudflare-compatible prefixes, wrangler’s and the documented one', async () => {
      for (const prefix of ['pubsub', 'brokers']) {
        const result = await ok(
          'GET',
          `/client/v4/accounts/any/${prefix}/namespaces/${NS}/brokers/${BROKER}`,
        );
        expect(result).toMatchObject({ name: BROKER, namespace: NS });
      }
      const wrongMethod = await call('PUT', `/client/v4/accounts/any/brokers/namespaces/${NS}`);
      expectError(wrongMethod, 405, 'method_not_allowed');
      expect(wrongMethod.headers.get('allow')).toBe('DELETE, GET, HEAD, PATCH');
    });

    it('keeps a namespace-scoped admin key inside its namespace: elsewhere is 404', async () => {
      const created = await ok('POST', '/v1/admin-keys', {
        json: { name: 'contract tenant', namespace: NS, permission: 'write' },
      });
      expect(created).toMatchObject({ namespace: NS, permission: 'write' });
      const token: string = created.key;
      expect(token).toMatch(/^gpk_/);

      const own = await ok('GET', `${broker}/credentials?number=1`, { token });
      expect(Object.keys(own)).toHaveLength(1);
      const other = `/v1/namespaces/${OTHER_NS}`;
      expectError(await call('GET', other, { token }), 404, 'not_found');
      expectError(await call('GET', `${other}/brokers/${BROKER}`, { token }), 404, 'not_found');
      expectError(await call('GET', `${other}/brokers/${BROKER}/credentials`, { token }), 404, 'not_found');
      expectError(
        await call('POST', `${other}/brokers/${BROKER}/revocations?jti=x`, { token }),
        404,
        'not_found',
      );
      const visible: Array<{ name: string }> = await ok('GET', '/v1/namespaces', { token });
      expect(visible.map((namespace) => namespace.name)).toEqual([NS]);
    });

    it('exchanges a JWT through an identity source: stored, found by issuer, templated, refused', async () => {
      const sources = `${broker}/identity-sources`;
      const issuer = 'https://contract.supabase.example/auth/v1';
      const secret = 'contract-hmac-secret-0123456789abcdefghij';
      // biome-ignore lint/suspicious/noTemplateCurlyInString: gatepass ACL template placeholders
      const acl_template = { pub: ['users/${sub}/out/#'], sub: ['teams/${attributes.team}/#'] };
      const source = await ok('POST', sources, {
        json: { name: 'contract-jwt', kind: 'jwt', issuer, secret, audience: 'authenticated', acl_template },
      });
      expect(source).toMatchObject({ kind: 'jwt', has_secret: true, algorithms: ['HS256'] });
      expect(JSON.stringify(source)).not.toContain(secret);
      const listed: Array<{ name: string }> = await ok('GET', sources);
      expect(listed.map((item) => item.name)).toContain('contract-jwt');

      const now = Math.floor(Date.now() / 1000);
      const subjectToken = (team: string) =>
        new SignJWT({ iss: issuer, aud: 'authenticated', sub: 'alice', team, iat: now, exp: now + 600 })
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
          .sign(new TextEncoder().encode(secret));
      const exchange = async (team: string) =>
        call('POST', `${broker}/token-exchange`, { json: { subject_token: await subjectToken(team) } });

      const exchanged = await exchange('red');
      expect(exchanged.status, JSON.stringify(exchanged.body)).toBe(200);
      expect(exchanged.body.result).toMatchObject({ client_id: 'alice', token_type: 'N_A' });
      const { payload } = await jwtVerify(exchanged.body.result.token, await jwks());
      expect(payload.sub).toBe('alice');
      expect(payload.topicAcl).toEqual({ pub: ['users/alice/out/#'], sub: ['teams/red/#'] });

      expectError(await exchange('+'), 403, 'template_value_refused');
      await ok('PATCH', `${sources}/contract-jwt`, { json: { audience: 'someone-else' } });
      expectError(await exchange('red'), 401, 'invalid_audience');
      await ok('DELETE', `${sources}/contract-jwt`);
      expectError(await exchange('red'), 401, 'untrusted_issuer');
    });

    it('audits configuration changes with the change; deletes a namespace with brokers only when forced', async () => {
      const ns = 'contract-config';
      await ok('POST', '/v1/namespaces', { json: { name: ns, description: 'a' } });
      await ok('PATCH', `/v1/namespaces/${ns}`, { json: { description: 'b' } });
      await ok('POST', `/v1/namespaces/${ns}/brokers`, { json: { name: 'b1', expiration: 60 } });
      await ok('PATCH', `/v1/namespaces/${ns}/brokers/b1`, { json: { expiration: 120 } });
      const key = await ok('POST', '/v1/admin-keys', {
        json: { name: 'cfg', namespace: ns, permission: 'read' },
      });
      expectError(await call('DELETE', `/v1/namespaces/${ns}`), 409, 'conflict');
      expect(await ok('GET', `/v1/namespaces/${ns}/brokers/b1`)).toMatchObject({ expiration: 120 });
      await ok('DELETE', `/v1/namespaces/${ns}?force=true`);
      expectError(await call('GET', `/v1/namespaces/${ns}`), 404, 'not_found');

      const events: Array<{ action: string; details: Record<string, unknown> }> = await ok(
        'GET',
        `/v1/audit?namespace=${ns}&per_page=100`,
      );
      expect(events.map((event) => event.action).reverse()).toEqual([
        'namespace.create',
        'namespace.update',
        'broker.create',
        'broker.update',
        'admin_key.create',
        'namespace.delete',
      ]);
      expect(events[0]!.details).toEqual({
        id: expect.any(String),
        force: true,
        brokers: ['b1'],
        admin_keys: [key.id],
      });
      expect(events.find((event) => event.action === 'broker.update')!.details).toEqual({
        changes: { expiration: { old: 60, new: 120 } },
      });
    });

    it('delivers a revocation to a webhook revocation sink, signed as Standard Webhooks say', async () => {
      const endpoint = await startReceiver();
      try {
        const sink = await ok('POST', `${broker}/revocation-sinks`, {
          json: {
            name: 'contract-hook',
            kind: 'webhook',
            url: endpoint.url,
            events: ['credentials.revoked'],
          },
        });
        const issued = await ok('POST', `${broker}/credentials`, { json: { clientid: ['sink-client'] } });
        const { jti } = decodeJwt(issued['sink-client']);
        const arrived = endpoint.next();
        await ok('POST', `${broker}/revocations`, { json: { jti: [jti] } });
        // Node delivers at once after the change; the Worker after the answer, in waitUntil.
        const request = await arrived;
        const event = new Webhook(sink.secret).verify(
          request.body,
          request.headers as Record<string, string>,
        );
        expect(event).toMatchObject({
          type: 'credentials.revoked',
          data: { namespace: NS, broker: BROKER, action: 'revocations.revoke', jtis: [jti] },
        });
        let view = await ok('GET', `${broker}/revocation-sinks/contract-hook`);
        for (let i = 0; i < 50 && view.pending > 0; i++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          view = await ok('GET', `${broker}/revocation-sinks/contract-hook`);
        }
        expect(view).toMatchObject({ status: 'ok', pending: 0, attempts: 0 });
        await ok('DELETE', `${broker}/revocation-sinks/contract-hook`);
      } finally {
        await endpoint.close();
      }
    });

    it('reports healthy', async () => {
      const response = await call('GET', '/healthz', { token: null });
      expect(response).toMatchObject({ status: 200, body: { status: 'ok' } });
    });
  });
}
