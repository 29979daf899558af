// EMQX 5 HTTP authentication: a gatepass verification turned into the answer EMQX expects, ACL included.
import type { TopicAcl } from '../../core/claims.js';
import type { ConnectResult, Verifier } from '../verify.js';

/**
 * The fields of EMQX's HTTP authentication request that gatepass reads, as configured in the
 * authenticator's body template (`{"clientid": "${clientid}", "username": "${username}", ...}`).
 *
 * @example
 * const request: EmqxAuthRequest = { clientid: 'sensor-17', username: 'sensor-17', password: token, peerhost: '10.0.0.7' };
 */
export interface EmqxAuthRequest {
  clientid?: string | null | undefined;
  username?: string | null | undefined;
  password?: string | null | undefined;
  /** Informational: gatepass tokens are not bound to an address. */
  peerhost?: string | null | undefined;
}

/**
 * One EMQX 5 authorization rule (the "new format" of the `acl` field, EMQX 5.5+).
 *
 * @example
 * const rule: EmqxAclRule = { permission: 'allow', action: 'publish', topic: 'plant/line-3/#' };
 */
export interface EmqxAclRule {
  permission: 'allow' | 'deny';
  action: 'publish' | 'subscribe' | 'all';
  topic: string;
}

/**
 * The body gatepass answers EMQX with (always with status 200): `allow` with the client's ACL, its
 * expiry and attributes (EMQX 5.7+ reads `client_attrs`, 5.8+ `acl` and `expire_at`), or `deny`.
 *
 * @example
 * const body: EmqxAuthResponse = { result: 'deny' };
 */
export type EmqxAuthResponse =
  | {
      result: 'allow';
      is_superuser: false;
      /** The token's `exp` in epoch seconds: EMQX disconnects the client then. Absent without `exp`. */
      expire_at?: number;
      /** Frozen, and shared by every answer for the same token: serialize it, do not change it. */
      acl: EmqxAclRule[];
      /** `gatepass_sub` (the client id the token is bound to) and `gatepass_jti`. */
      client_attrs: Record<string, string>;
    }
  | { result: 'deny' };

/**
 * The answer for EMQX and the verification behind it (log `result.reason` on a refusal, never send it).
 *
 * @example
 * const { response, result } = await authenticateEmqx(verifier, body);
 * if (!result.ok) log.info({ reason: result.reason }, 'EMQX CONNECT refused');
 * return Response.json(response);
 */
export interface EmqxAuthentication {
  response: EmqxAuthResponse;
  result: ConnectResult;
}

const DENY: EmqxAuthResponse = Object.freeze({ result: 'deny' });

/** Rules per compiled ACL: sessions of one token share it (the verifier's cache), so a reconnect reuses them. */
const rulesByAcl = new WeakMap<object, EmqxAclRule[]>();

/**
 * Verifies the credentials of an EMQX HTTP authentication request exactly as a CONNECT: the password is
 * the token, the client id must be the token's `sub`, and a non-empty username must equal the client id.
 * Every refusal answers `{ "result": "deny" }` (never `ignore`, which would let a later authenticator in
 * EMQX's chain accept a token gatepass refused).
 *
 * @example
 * app.post('/emqx/auth', async (c) => {
 *   const { response } = await authenticateEmqx(verifier, await c.req.json());
 *   return c.json(response);
 * });
 */
export async function authenticateEmqx(
  verifier: Verifier,
  request: EmqxAuthRequest,
  options: { now?: () => number } = {},
): Promise<EmqxAuthentication> {
  const result = await verifier.verifyConnect({
    clientId: request.clientid ?? '',
    username: request.username ?? undefined,
    password: request.password ?? undefined,
  });
  if (!result.ok) return { response: DENY, result };
  const nowSeconds = Math.floor((options.now ?? Date.now)() / 1000);
  return {
    response: {
      result: 'allow',
      is_superuser: false,
      // A token accepted within the clock tolerance may be a second past its exp: EMQX wants a future time.
      ...(result.expiresAt === null ? {} : { expire_at: Math.max(result.expiresAt, nowSeconds + 1) }),
      acl: rulesFor(result.acl, result.claims.topicAcl),
      client_attrs: { gatepass_sub: result.claims.sub, gatepass_jti: result.jti },
    },
    result,
  };
}

/**
 * A token's topic ACL as EMQX 5 authorization rules, ending with a rule that denies everything else (in
 * the new format, an operation no rule matches falls through to EMQX's other authorizers).
 *
 * EMQX expands `${clientid}`-style placeholders in rule topics and reads a leading `eq ` as "this exact
 * filter", so a filter containing `${` or starting with `eq ` would mean something else to EMQX than to
 * gatepass: such filters are left out (denied), never passed on.
 *
 * @example
 * emqxAclRules({ pub: ['plant/line-3/#'], sub: ['plant/commands/+'] });
 * // [{ permission: 'allow', action: 'publish', topic: 'plant/line-3/#' },
 * //  { permission: 'allow', action: 'subscribe', topic: 'plant/commands/+' },
 * //  { permission: 'deny', action: 'all', topic: '#' }]
 */
export function emqxAclRules(topicAcl: TopicAcl): EmqxAclRule[] {
  const rules: EmqxAclRule[] = [];
  if (topicAcl === '#') {
    rules.push({ permission: 'allow', action: 'all', topic: '#' });
  } else {
    const sub = new Set(topicAcl.sub);
    const pub = new Set(topicAcl.pub);
    for (const topic of pub) {
      if (!passesThrough(topic)) continue;
      rules.push({ permission: 'allow', action: sub.has(topic) ? 'all' : 'publish', topic });
    }
    for (const topic of sub) {
      if (pub.has(topic) || !passesThrough(topic)) continue;
      rules.push({ permission: 'allow', action: 'subscribe', topic });
    }
  }
  rules.push({ permission: 'deny', action: 'all', topic: '#' });
  return rules;
}

function rulesFor(acl: object, topicAcl: TopicAcl): EmqxAclRule[] {
  let rules = rulesByAcl.get(acl);
  if (rules === undefined) {
    rules = emqxAclRules(topicAcl);
    for (const rule of rules) Object.freeze(rule);
    Object.freeze(rules);
    rulesByAcl.set(acl, rules);
  }
  return rules;
}

function passesThrough(filter: string): boolean {
  return !filter.includes('${') && !filter.startsWith('eq ');
}
