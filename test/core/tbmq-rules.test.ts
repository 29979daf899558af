// TBMQ's rules, decided as TBMQ decides them (a whole-string regex match), against the verifier's `authorize`.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { authorize, compileAcl } from '../../src/core/acl.js';
import type { TopicAcl } from '../../src/core/claims.js';
import { tbmqRules } from '../../src/core/tbmq-rules.js';

/**
 * DefaultAuthorizationRuleService.isAuthorized in TBMQ: granted when one compiled pattern
 * `matcher(topic).matches()`, which anchors at both ends; no pattern, no grant. For a subscription TBMQ
 * passes the filter with `$share/{group}/` removed (NettyMqttConverter.getTopicFilter), as `authorize` does.
 */
function tbmqGrants(patterns: string[], topic: string): boolean {
  return patterns.some((pattern) => new RegExp(`^(?:${pattern})$`).test(topic));
}

// Levels with regex metacharacters, `$` and empty ones, few enough that filters and topics collide often.
const literal = fc.constantFrom(
  'a',
  'b',
  '',
  '$SYS',
  '$x',
  '.',
  'a.b',
  '(',
  '\\',
  '[x]',
  '*',
  '?',
  '{1}',
  '|',
  '^',
);
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
      pub: fc.array(subscription, { maxLength: 4 }),
      sub: fc.array(subscription, { maxLength: 4 }),
    }),
  },
);

describe('tbmqRules', () => {
  it('grants exactly the publishes the verifier allows', () => {
    fc.assert(
      fc.property(topicAcl, fc.array(topicName, { minLength: 1, maxLength: 8 }), (acl, names) => {
        const { pub } = tbmqRules(acl);
        const compiled = compileAcl(acl);
        for (const name of names) {
          expect({ name, granted: tbmqGrants(pub, name) }).toEqual({
            name,
            granted: authorize(compiled, 'publish', name).ok,
          });
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('grants exactly the subscriptions the verifier allows', () => {
    fc.assert(
      fc.property(topicAcl, fc.array(subscription, { minLength: 1, maxLength: 8 }), (acl, filters) => {
        const { sub } = tbmqRules(acl);
        const compiled = compileAcl(acl);
        for (const requested of filters) {
          expect({ requested, granted: tbmqGrants(sub, requested) }).toEqual({
            requested,
            granted: authorize(compiled, 'subscribe', requested).ok,
          });
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('spells out the cases that matter', () => {
    const cases: Array<[TopicAcl, 'publish' | 'subscribe', string, boolean]> = [
      ['#', 'publish', 'a/b', true],
      ['#', 'publish', '$SYS/x', false],
      ['#', 'subscribe', '#', true],
      ['#', 'subscribe', '$SYS/#', false],
      [{ pub: ['a/#'], sub: [] }, 'publish', 'a', true],
      [{ pub: ['a.b/+'], sub: [] }, 'publish', 'aXb/c', false],
      [{ pub: ['+/x'], sub: [] }, 'publish', '$SYS/x', false],
      [{ pub: ['$SYS/+'], sub: [] }, 'publish', '$SYS/x', true],
      [{ pub: [], sub: ['alerts/+'] }, 'subscribe', 'alerts/#', false],
      [{ pub: [], sub: ['alerts/+'] }, 'subscribe', 'alerts/+', true],
      [{ pub: [], sub: ['alerts/#'] }, 'subscribe', 'alerts', true],
      [{ pub: [], sub: ['+/#'] }, 'subscribe', '#', true],
      [{ pub: [], sub: ['+'] }, 'subscribe', '#', false],
      [{ pub: [], sub: ['a/b'] }, 'subscribe', 'a/+', false],
    ];
    for (const [acl, action, topic, granted] of cases) {
      const rules = tbmqRules(acl);
      expect({
        acl,
        action,
        topic,
        granted: tbmqGrants(action === 'publish' ? rules.pub : rules.sub, topic),
      }).toEqual({ acl, action, topic, granted });
    }
    expect(tbmqRules({ pub: [], sub: [] })).toEqual({ pub: [], sub: [] });
  });
});
