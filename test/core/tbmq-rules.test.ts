// TBMQ's rules, decided as TBMQ decides them (a whole-string regex match), against the verifier's `authorize`.
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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

// TBMQ runs on Java: the same decisions through Java's own regex engine, where a JDK is installed.
const JAVA_MATCHER = fileURLToPath(new URL('../support/TbmqRuleMatcher.java', import.meta.url));
const hasJava = spawnSync('java', ['-version']).status === 0;

describe.skipIf(!hasJava)("tbmqRules under Java's Pattern", () => {
  it('grants exactly what the verifier allows, publishing and subscribing', () => {
    const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
    const cases = fc.sample(
      fc.tuple(topicAcl, fc.array(topicName, { maxLength: 6 }), fc.array(subscription, { maxLength: 6 })),
      { numRuns: 1500, seed: 12 },
    );
    const lines: string[] = [];
    const expected: number[] = [];
    for (const [acl, names, filters] of cases) {
      const rules = tbmqRules(acl);
      const compiled = compileAcl(acl);
      for (const [patterns, action, topics] of [
        [rules.pub, 'publish', names],
        [rules.sub, 'subscribe', filters],
      ] as const) {
        for (const topic of topics) {
          lines.push(`${patterns.map(base64).join(',')} ${base64(topic)}`);
          expected.push(authorize(compiled, action, topic).ok ? 1 : 0);
        }
      }
    }
    const output = execFileSync('java', [JAVA_MATCHER], { input: `${lines.join('\n')}\n`, timeout: 60_000 });
    const granted = output.toString().trim().split('\n').map(Number);
    expect(granted).toHaveLength(expected.length);
    const mismatches = granted.flatMap((value, i) => (value === expected[i] ? [] : [lines[i]]));
    expect(mismatches).toEqual([]);
  }, 90_000);
});
