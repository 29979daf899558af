// The `acl` gatepass hands EMQX, decided by EMQX's own matching (ported below from its source) against the
// verifier's `authorize`: EMQX never grants what the token does not, and grants all it does.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AclAction, authorize, compileAcl } from '../../../src/core/acl.js';
import type { TopicAcl } from '../../../src/core/claims.js';
import { type EmqxAclRule, emqxAclRules } from '../../../src/verifier/adapters/emqx.js';

// --- EMQX's authorization of a client_info `acl`, ported from github.com/emqx/emqx at 50e04386de84 ----------
//
// A word of a topic is a binary or one of the atoms '+', '#' and '' (apps/emqx/src/emqx_topic.erl, words/1
// and word/1: exactly the levels "+", "#" and "" become atoms). Here a word is the level string: "+", "#"
// and "" stand for the atoms, since word/1 never yields them as binaries.
type Words = readonly string[];

/** emqx_topic:words/1. */
const words = (topic: string): Words => topic.split('/');

/**
 * emqx_topic:match/2 on words, as emqx_authz_rule:match_topic/2 calls it: match_words/2, then
 * match_tokens/2 clause by clause. Erlang commits to the first clause whose pattern matches.
 */
function emqxMatch(name: Words, filter: Words): boolean {
  // match_words([<<$$, _/binary>> | _], [W | _]) when ?IS_WILDCARD(W) -> false
  if (name.length > 0 && filter.length > 0 && name[0]!.startsWith('$') && isWildcard(filter[0]!))
    return false;
  return matchTokens(name, filter);
}

function matchTokens(name: Words, filter: Words): boolean {
  // match_tokens([], []) -> true
  if (name.length === 0 && filter.length === 0) return true;
  // match_tokens([H | T1], [H | T2]) -> match_tokens(T1, T2)
  if (name.length > 0 && filter.length > 0 && name[0] === filter[0]) {
    return matchTokens(name.slice(1), filter.slice(1));
  }
  // match_tokens([_H | T1], ['+' | T2]) -> match_tokens(T1, T2)
  if (name.length > 0 && filter[0] === '+') return matchTokens(name.slice(1), filter.slice(1));
  // match_tokens([<<>> | T1], ['' | T2]): never reached, words/1 yields the atom '', taken by clause 2.
  // match_tokens(_, ['#']) -> true
  if (filter.length === 1 && filter[0] === '#') return true;
  return false;
}

const isWildcard = (word: string) => word === '+' || word === '#';

/** A rule as emqx_authz_rule:compile/1 leaves it for one raw rule of the HTTP authenticator's `acl`. */
interface CompiledRule {
  permission: 'allow' | 'deny';
  /** emqx_authz_rule_raw:validate_rule_action_type/1; qos and retain keep their defaults (all). */
  action: 'publish' | 'subscribe' | 'all';
  /** emqx_authz_rule:compile_topic/1: `{eq, Words}` for "eq ..." (emqx_authz_rule_raw:validate_rule_topic/1). */
  topic: { eq: Words } | { filter: Words };
}

function compileRule(rule: EmqxAclRule): CompiledRule {
  // A topic with a ${...} placeholder would compile to {pattern, Template}: gatepass never sends one.
  expect(rule.topic).not.toContain('${');
  const topic = rule.topic.startsWith('eq ')
    ? { eq: words(rule.topic.slice(3)) }
    : { filter: words(rule.topic) };
  return { permission: rule.permission, action: rule.action, topic };
}

/**
 * emqx_authz_rule:matches/4 over emqx_authz_rule:match/4 (match_action/2 through match_pubsub/2, then
 * match_topics/3 and match_topic/2): the first rule that matches decides; none is `nomatch`, which
 * emqx_authz_client_info:authorize_v2/4 returns and EMQX passes to its next authorizer, then `no_match`.
 * `topic` is what emqx_channel authorizes: the topic name of a PUBLISH, or the real filter of a
 * subscription (do_check_sub_authzs2/3 strips `$share/{group}/`).
 */
function emqxAuthorize(
  rules: CompiledRule[],
  action: AclAction,
  topic: string,
): 'allow' | 'deny' | 'nomatch' {
  const name = words(topic);
  for (const rule of rules) {
    if (rule.action !== 'all' && rule.action !== action) continue;
    const matched =
      'eq' in rule.topic
        ? name.length === rule.topic.eq.length &&
          name.every((word, i) => word === (rule.topic as { eq: Words }).eq[i])
        : emqxMatch(name, rule.topic.filter);
    if (matched) return rule.permission;
  }
  return 'nomatch';
}

// --- generators ----------------------------------------------------------------------------------------------

const literal = fc.constantFrom('a', 'b', '', '$SYS', '$x');
/** Valid MQTT filters over few levels, so that filters and subscriptions collide often. */
const filter = fc
  .tuple(fc.array(fc.oneof(literal, fc.constant('+')), { minLength: 1, maxLength: 4 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
  .filter((value) => value !== '');
const subscription = fc.oneof(filter, fc.constant('#'));
const topicName = fc
  .array(literal, { minLength: 1, maxLength: 5 })
  .map((levels) => levels.join('/'))
  .filter((value) => value !== '');
const topicAcl: fc.Arbitrary<TopicAcl> = fc.oneof(
  { weight: 1, arbitrary: fc.constant('#' as const) },
  {
    weight: 9,
    arbitrary: fc.record({
      pub: fc.array(fc.oneof(filter, fc.constant('#')), { maxLength: 4 }),
      sub: fc.array(fc.oneof(filter, fc.constant('#')), { maxLength: 4 }),
    }),
  },
);

describe("emqxAclRules under EMQX's own matching", () => {
  it('grants exactly the subscriptions the verifier allows, and leaves only $-topics unmatched', () => {
    fc.assert(
      fc.property(topicAcl, fc.array(subscription, { minLength: 1, maxLength: 8 }), (acl, filters) => {
        const rules = emqxAclRules(acl).map(compileRule);
        const compiled = compileAcl(acl);
        for (const requested of filters) {
          const emqx = emqxAuthorize(rules, 'subscribe', requested);
          const ours = authorize(compiled, 'subscribe', requested).ok;
          expect({ requested, emqx }).toEqual({
            requested,
            emqx: ours ? 'allow' : expect.stringMatching(/deny|nomatch/),
          });
          if (emqx === 'nomatch') expect(requested.startsWith('$')).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('grants exactly the publishes the verifier allows, and leaves only $-topics unmatched', () => {
    fc.assert(
      fc.property(topicAcl, fc.array(topicName, { minLength: 1, maxLength: 8 }), (acl, names) => {
        const rules = emqxAclRules(acl).map(compileRule);
        const compiled = compileAcl(acl);
        for (const name of names) {
          const emqx = emqxAuthorize(rules, 'publish', name);
          const ours = authorize(compiled, 'publish', name).ok;
          expect({ name, emqx }).toEqual({
            name,
            emqx: ours ? 'allow' : expect.stringMatching(/deny|nomatch/),
          });
          if (emqx === 'nomatch') expect(name.startsWith('$')).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('denies the subscriptions EMQX would otherwise widen a `+` to', () => {
    const cases: Array<[TopicAcl, string, boolean]> = [
      [{ pub: [], sub: ['alerts/+'] }, 'alerts/#', false],
      [{ pub: [], sub: ['alerts/+'] }, 'alerts/x', true],
      [{ pub: [], sub: ['alerts/+'] }, 'alerts/+', true],
      [{ pub: [], sub: ['alerts/+/#'] }, 'alerts/#', false],
      [{ pub: [], sub: ['alerts/+/#'] }, 'alerts/x/#', true],
      [{ pub: [], sub: ['+/+'] }, 'a/#', false],
      [{ pub: [], sub: ['+/+'] }, 'a/b', true],
      [{ pub: [], sub: ['+'] }, '#', false],
      [{ pub: [], sub: ['+/#'] }, '#', true],
      [{ pub: [], sub: ['+/+/+', 'a/+/#'] }, 'a/b/#', true],
      [{ pub: [], sub: ['+/+/+', 'a/+/#'] }, 'b/b/#', false],
    ];
    for (const [acl, requested, allowed] of cases) {
      const decision = emqxAuthorize(emqxAclRules(acl).map(compileRule), 'subscribe', requested);
      expect({ acl, requested, decision }).toEqual({ acl, requested, decision: allowed ? 'allow' : 'deny' });
    }
  });
});
