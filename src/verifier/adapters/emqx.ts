// EMQX 5 HTTP authentication: a gatepass verification turned into the answer EMQX expects, ACL included.
import type { TopicAcl } from '../../core/claims.js';
import type { ConnectFailureReason } from '../reasons.js';
import type { ConnectSuccess, Verifier } from '../verify.js';

/**
 * The fields of EMQX's HTTP authentication request that gatepass reads, as configured in the
 * authenticator's body template (`{"clientid": "${clientid}", "username": "${username}", ...}`).
 *
 * @example
 * const request: EmqxAuthRequest = { clientid: 'sensor-17', username: 'sensor-17', password: token, peerhost: '10.0.0.7' };
 */
export interface EmqxAuthRequest {
  /** Required: EMQX always has one (it assigns one to a client that sent none), so absent means a wrong template. */
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
 * Why an EMQX request was refused, for logs: a {@link ConnectFailureReason}, or `missing_client_id` (the
 * request had no `clientid`: the authenticator's body template lacks `${clientid}`).
 *
 * @example
 * const reason: EmqxDenial = 'missing_client_id';
 */
export type EmqxDenial = ConnectFailureReason | 'missing_client_id';

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
  result: ConnectSuccess | { readonly ok: false; readonly reason: EmqxDenial };
}

const DENY: EmqxAuthResponse = Object.freeze({ result: 'deny' });
const MISSING_CLIENT_ID = Object.freeze({
  ok: false,
  reason: 'missing_client_id',
}) satisfies EmqxAuthentication['result'];

/** Rules per compiled ACL: sessions of one token share it (the verifier's cache), so a reconnect reuses them. */
const rulesByAcl = new WeakMap<object, EmqxAclRule[]>();

/**
 * Verifies the credentials of an EMQX HTTP authentication request exactly as a CONNECT: the password is
 * the token, the client id (required) must be the token's `sub`, and a non-empty username must equal the
 * client id. Every refusal answers `{ "result": "deny" }` (never `ignore`, which would let a later
 * authenticator in EMQX's chain accept a token gatepass refused).
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
  // An empty client id would let the verifier assign the token's sub, as for a CONNECT: EMQX never sends one.
  if (!request.clientid) return { response: DENY, result: MISSING_CLIENT_ID };
  const result = await verifier.verifyConnect({
    clientId: request.clientid,
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
 * A token's topic ACL as EMQX 5 authorization rules that grant what the verifier's `authorize` allows and
 * nothing more, under EMQX's own matching (EMQX 5.8.2 or later; see docs/brokers/emqx.md):
 *
 * - EMQX matches a subscribed filter against a rule's filter as if it were a topic name, so a rule's `+`
 *   also takes a subscribed `#` (granted `alerts/+`, EMQX would grant `alerts/#`; granted `alerts/+/#`, it
 *   would grant `alerts/#`, which also matches `alerts`). Each such rule comes after a `deny` of exactly
 *   those subscriptions: `eq alerts/#`, or, when the levels before the `+` hold a `+` too, `a/+/#/#` (for
 *   `a/+/+`). EMQX compares rule levels one by one without validating them as a filter, so that rule's
 *   first `#` matches only a subscribed `#` and its last one ends the match
 *   (emqx_topic:match_tokens/2). Rules EMQX cannot widen come first, and the guarded ones shortest
 *   first, so that no such `deny` hides a subscription another filter grants.
 * - Then a `deny all` on `#`, `$SYS/#` and `$delayed/#`. In the rule format EMQX reads here an operation
 *   no rule matches falls through to EMQX's other authorizers, and no rule can match every topic
 *   beginning with `$` (wildcards never match them): `authorization.no_match` must be `deny`.
 * - EMQX expands `${clientid}`-style placeholders in rule topics and reads a leading `eq ` as "this exact
 *   filter", so a filter containing `${` or starting with `eq ` would mean something else to EMQX than to
 *   gatepass: such filters are left out (denied), never passed on.
 *
 * @example
 * emqxAclRules({ pub: ['plant/line-3/#'], sub: ['plant/commands/+'] });
 * // [{ permission: 'allow', action: 'publish', topic: 'plant/line-3/#' },
 * //  { permission: 'deny', action: 'subscribe', topic: 'eq plant/commands/#' },
 * //  { permission: 'allow', action: 'subscribe', topic: 'plant/commands/+' },
 * //  { permission: 'deny', action: 'all', topic: '#' },
 * //  { permission: 'deny', action: 'all', topic: '$SYS/#' },
 * //  { permission: 'deny', action: 'all', topic: '$delayed/#' }]
 */
export function emqxAclRules(topicAcl: TopicAcl): EmqxAclRule[] {
  const rules: EmqxAclRule[] = [];
  if (topicAcl === '#') {
    rules.push({ permission: 'allow', action: 'all', topic: '#' });
  } else {
    const pub = new Set(topicAcl.pub.filter(passesThrough));
    const sub = new Set(topicAcl.sub.filter(passesThrough));
    for (const topic of pub) {
      if (!sub.has(topic)) rules.push({ permission: 'allow', action: 'publish', topic });
    }
    const guarded = [...sub].map((topic) => ({ topic, widening: wideningDeny(topic) }));
    guarded.sort((a, b) => guardOrder(a.topic, a.widening) - guardOrder(b.topic, b.widening));
    for (const { topic, widening } of guarded) {
      if (widening !== undefined) rules.push({ permission: 'deny', action: 'subscribe', topic: widening });
      rules.push({ permission: 'allow', action: pub.has(topic) ? 'all' : 'subscribe', topic });
    }
  }
  for (const topic of FINAL_DENIALS) rules.push({ permission: 'deny', action: 'all', topic });
  return rules;
}

/** Denied last; `$SYS` and `$delayed` (a delayed publish to any topic) spelt out, being EMQX's own. */
const FINAL_DENIALS = ['#', '$SYS/#', '$delayed/#'];

/**
 * The rule topic denying the subscriptions EMQX would grant under `filter` that `filter` does not cover,
 * or undefined when there are none. Those are a `#` taken by a `+` that is `filter`'s last level, or its
 * last but one before a `#`: the same levels before it, then `#` (except `#` alone for `+/#`, which
 * matches the same topics).
 */
function wideningDeny(filter: string): string | undefined {
  const levels = filter.split('/');
  const last = levels.length - 1;
  let plus: number;
  if (levels[last] === '+') plus = last;
  else if (levels[last] === '#' && levels[last - 1] === '+' && last > 1) plus = last - 1;
  else return undefined;
  const before = levels.slice(0, plus);
  return before.includes('+') ? [...before, '#', '#'].join('/') : `eq ${[...before, '#'].join('/')}`;
}

/**
 * Where a filter's rules go among the subscription rules. A guarded filter's `deny` could hide a
 * subscription that another filter grants only when that filter ends with `#` and is shorter, or as long
 * and this one ends with `+`; that order puts the other filter's `allow` first.
 */
function guardOrder(filter: string, widening: string | undefined): number {
  if (widening === undefined) return 0;
  const levels = filter.split('/');
  return levels.length * 2 + (levels[levels.length - 1] === '+' ? 1 : 0);
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
