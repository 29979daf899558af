import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { authorize, compileAcl, filterCovers, topicMatches } from '../../src/core/acl.js';
import type { TopicAcl } from '../../src/core/claims.js';

/**
 * The reference matcher: MQTT 5 §4.7 written as a regular expression, independently of the trie and the
 * level-by-level loop under test. `+` is `[^/]*`; `#` is everything, its parent separator optional.
 */
function referenceRegex(filter: string): RegExp {
  const levels = filter.split('/');
  let source = '';
  levels.forEach((level, i) => {
    if (level === '#') {
      source += i === 0 ? '.*' : '(?:/.*)?';
      return;
    }
    if (i > 0) source += '/';
    source += level === '+' ? '[^/]*' : level.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  const startsWithWildcard = levels[0] === '+' || levels[0] === '#';
  return new RegExp(`^${startsWithWildcard ? '(?!\\$)' : ''}${source}$`, 's');
}

const referenceMatches = (filter: string, topic: string) => referenceRegex(filter).test(topic);

const allows = (acl: TopicAcl, action: 'publish' | 'subscribe', topic: string) =>
  authorize(compileAcl(acl), action, topic).ok;

// MQTT 5 §4.7.1 - §4.7.3 (the same examples as MQTT 3.1.1 §4.7), plus the parent-level rule.
const specExamples: Array<[filter: string, topic: string, matches: boolean]> = [
  ['sport/tennis/player1/#', 'sport/tennis/player1', true],
  ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
  ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
  ['sport/#', 'sport', true],
  ['sport/#', 'sport/', true],
  ['sport/#', 'sports', false],
  ['#', 'sport/tennis/player1', true],
  ['#', '/', true],
  ['sport/tennis/+', 'sport/tennis/player1', true],
  ['sport/tennis/+', 'sport/tennis/player2', true],
  ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
  ['sport/+', 'sport', false],
  ['sport/+', 'sport/', true],
  ['+', 'sport', true],
  ['+', '/finance', false],
  ['+/+', '/finance', true],
  ['/+', '/finance', true],
  ['+/tennis/#', 'sport/tennis/player1', true],
  ['+/tennis/#', 'sport/tennis', true],
  ['+/tennis/#', 'sport/golf', false],
  ['a//b', 'a//b', true],
  ['a/+/b', 'a//b', true],
  ['a/b', 'a//b', false],
  ['ACCOUNTS', 'Accounts', false],
  ['Accounts payable', 'Accounts payable', true],
  ['/finance', 'finance', false],
  ['finance', '/finance', false],
  // §4.7.2: wildcards in the first level never match a topic beginning with '$'.
  ['#', '$SYS/monitor/Clients', false],
  ['#', '$SYS', false],
  ['+', '$SYS', false],
  ['+/monitor/Clients', '$SYS/monitor/Clients', false],
  ['+/#', '$SYS/monitor', false],
  ['$SYS/#', '$SYS/monitor/Clients', true],
  ['$SYS/#', '$SYS', true],
  ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
  ['$SYS/monitor/Clients', '$SYS/monitor/Clients', true],
  // '$' only matters at the start of the topic.
  ['a/+', 'a/$b', true],
  ['a/#', 'a/$b/c', true],
];

describe('topic matching (MQTT 5 §4.7)', () => {
  it.each(specExamples)('%j against %j -> %s', (filter, topic, matches) => {
    expect(topicMatches(filter, topic)).toBe(matches);
    expect(allows({ pub: [filter], sub: [] }, 'publish', topic)).toBe(matches);
    expect(referenceMatches(filter, topic)).toBe(matches);
  });
});

describe('authorize publish', () => {
  it('refuses topic names MQTT forbids before consulting the ACL', () => {
    const acl = compileAcl('#');
    expect(authorize(acl, 'publish', 'a/+')).toEqual({ ok: false, reason: 'invalid_topic' });
    expect(authorize(acl, 'publish', 'a/#')).toEqual({ ok: false, reason: 'invalid_topic' });
    expect(authorize(acl, 'publish', '')).toEqual({ ok: false, reason: 'invalid_topic' });
    expect(authorize(acl, 'publish', 'a\u0000')).toEqual({ ok: false, reason: 'invalid_topic' });
    expect(authorize(acl, 'publish', 'a'.repeat(65_536))).toEqual({ ok: false, reason: 'invalid_topic' });
  });

  it("treats '#' as every topic except those beginning with '$'", () => {
    expect(allows('#', 'publish', 'a/b/c')).toBe(true);
    expect(allows('#', 'publish', '/')).toBe(true);
    expect(allows('#', 'publish', '$SYS/x')).toBe(false);
  });

  it('combines exact and wildcard filters, and keeps the directions apart', () => {
    const acl = compileAcl({
      pub: ['devices/d1/state', 'devices/d1/events/#'],
      sub: ['devices/d1/commands/+'],
    });
    expect(authorize(acl, 'publish', 'devices/d1/state').ok).toBe(true);
    expect(authorize(acl, 'publish', 'devices/d1/events').ok).toBe(true);
    expect(authorize(acl, 'publish', 'devices/d1/events/boot/1').ok).toBe(true);
    expect(authorize(acl, 'publish', 'devices/d2/state')).toEqual({ ok: false, reason: 'not_permitted' });
    expect(authorize(acl, 'publish', 'devices/d1/commands/reboot').ok).toBe(false);
    expect(authorize(acl, 'subscribe', 'devices/d1/state').ok).toBe(false);
  });

  it('permits nothing with empty filter lists', () => {
    const acl = compileAcl({ pub: [], sub: [] });
    expect(authorize(acl, 'publish', 'a').ok).toBe(false);
    expect(authorize(acl, 'subscribe', '#').ok).toBe(false);
  });

  it('returns shared decision objects', () => {
    const acl = compileAcl('#');
    expect(authorize(acl, 'publish', 'a')).toBe(authorize(acl, 'publish', 'b'));
    expect(Object.isFrozen(authorize(acl, 'publish', '$x'))).toBe(true);
  });
});

describe('authorize subscribe (filter containment)', () => {
  const cases: Array<[acl: string, subscription: string, allowed: boolean]> = [
    ['a/+', 'a/b', true],
    ['a/+', 'a/+', true],
    ['a/+', 'a/#', false],
    ['a/+', 'a', false],
    ['a/+', 'a/b/c', false],
    ['a/+', '+/b', false],
    ['a/#', 'a/#', true],
    ['a/#', 'a/b/#', true],
    ['a/#', 'a/+', true],
    ['a/#', 'a', true],
    ['a/#', 'a/+/c/#', true],
    ['a/#', '#', false],
    ['a/#', 'b/#', false],
    ['a/#', '+/b', false],
    ['#', '#', true],
    ['#', '+', true],
    ['#', '+/#', true],
    ['#', 'a/b/c', true],
    ['#', '/', true],
    ['#', '$SYS/#', false],
    ['#', '$SYS', false],
    ['#', '$SYS/+', false],
    ['+/#', '#', true],
    ['#', 'x/$SYS/#', true],
    ['$SYS/#', '$SYS/#', true],
    ['$SYS/#', '$SYS/broker/+', true],
    ['$SYS/#', '#', false],
    ['+/+', '+/+', true],
    ['+/+', '/+', true],
    ['+/+', '$x/+', false],
    ['a/+/c', 'a/+/c', true],
    ['a/+/c', 'a/b/+', false],
    ['a/b', 'a/b', true],
    ['a/b', 'a/+', false],
    ['a//b', 'a//b', true],
    ['a/+/b', 'a//b', true],
  ];

  it.each(cases)('ACL %j, SUBSCRIBE %j -> %s', (filter, subscription, allowed) => {
    expect(allows({ pub: [], sub: [filter] }, 'subscribe', subscription)).toBe(allowed);
    expect(filterCovers(filter, subscription)).toBe(allowed);
  });

  it("treats the ACL '#' like a sub filter '#'", () => {
    expect(allows('#', 'subscribe', 'a/#')).toBe(true);
    expect(allows('#', 'subscribe', '$SYS/#')).toBe(false);
  });

  it('needs one single ACL filter to cover the whole subscription', () => {
    // 'a' and 'a/+/#' together match everything 'a/#' does, but neither covers it alone.
    expect(allows({ pub: [], sub: ['a', 'a/+/#'] }, 'subscribe', 'a/#')).toBe(false);
    expect(allows({ pub: [], sub: ['a', 'a/+/#'] }, 'subscribe', 'a/+')).toBe(true);
  });

  it('refuses filters MQTT forbids', () => {
    const acl = compileAcl('#');
    for (const filter of ['', 'a/#/b', 'a+', 'a/b#', 'a/\u0000']) {
      expect(authorize(acl, 'subscribe', filter)).toEqual({ ok: false, reason: 'invalid_filter' });
    }
    // Longer than an ACL filter may be, but a valid subscription.
    expect(authorize(acl, 'subscribe', `${'a'.repeat(2000)}/+`).ok).toBe(true);
  });

  describe('shared subscriptions (MQTT 5 §4.8.2)', () => {
    const acl = compileAcl({ pub: [], sub: ['jobs/#'] });

    it.each([
      ['$share/workers/jobs/#', true],
      ['$share/workers/jobs/+/done', true],
      ['$share/w/jobs', true],
      ['$share/workers/#', false],
      ['$share/workers/other', false],
    ])('%j -> %s', (filter, allowed) => {
      expect(authorize(acl, 'subscribe', filter).ok).toBe(allowed);
    });

    it.each([
      ['$share/workers'],
      ['$share/workers/'],
      ['$share//jobs/#'],
      ['$share/'],
      ['$share/+/jobs/#'],
      ['$share/#/jobs'],
      ['$share/wor+kers/jobs/#'],
      ['$share/wor#kers/jobs/#'],
    ])('refuses the malformed %j', (filter) => {
      expect(authorize(acl, 'subscribe', filter)).toEqual({
        ok: false,
        reason: 'invalid_shared_subscription',
      });
    });

    it('checks the inner filter like any other', () => {
      expect(authorize(acl, 'subscribe', '$share/g/jobs/#/x')).toEqual({
        ok: false,
        reason: 'invalid_filter',
      });
      expect(authorize(compileAcl('#'), 'subscribe', '$share/g/$SYS/#').ok).toBe(false);
      expect(authorize(compileAcl('#'), 'subscribe', '$share/g/#').ok).toBe(true);
    });

    it("leaves a plain filter '$share' (no slash) to the ordinary rules", () => {
      expect(authorize(compileAcl({ pub: [], sub: ['$share'] }), 'subscribe', '$share').ok).toBe(true);
    });
  });
});

describe('compileAcl', () => {
  it('throws on a filter MQTT forbids, since ACLs come from verified claims', () => {
    expect(() => compileAcl({ pub: ['a/#/b'], sub: [] })).toThrow(TypeError);
    expect(() => compileAcl({ pub: [], sub: [''] })).toThrow(TypeError);
  });

  it('keeps the ACL it was built from', () => {
    const topicAcl: TopicAcl = { pub: ['a'], sub: ['b/#'] };
    expect(compileAcl(topicAcl).topicAcl).toBe(topicAcl);
  });
});

// Property tests. Levels come from a small alphabet so that filters and topics collide often.
const LITERALS = ['a', 'b', '', '$s'] as const;
const MAX_LEVELS = 4;

const literalLevel = fc.constantFrom(...LITERALS);
const topicLevel = fc.constantFrom(...LITERALS, 'z', '$z');
// A lone empty level would be the empty string, which is neither a topic name nor a filter.
const topicArb = fc
  .array(topicLevel, { minLength: 1, maxLength: MAX_LEVELS + 1 })
  .map((levels) => levels.join('/'))
  .filter((topic) => topic !== '');
const filterArb = fc
  .tuple(
    fc.array(fc.oneof(literalLevel, fc.constant('+')), { minLength: 0, maxLength: MAX_LEVELS }),
    fc.boolean(),
  )
  .filter(([levels, hash]) => levels.length > 0 || hash)
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
  .filter((filter) => filter !== '');
const aclArb = fc.record({
  pub: fc.array(filterArb, { maxLength: 5 }),
  sub: fc.array(filterArb, { maxLength: 5 }),
});

/**
 * Every topic that can tell two generated filters apart: levels from the filters' literals plus a fresh
 * value ('z') and a fresh '$' value ('$z'), up to one level longer than a filter's levels before '#'.
 * Matching depends only on equality with literals, a leading '$' and the number of levels, so one filter
 * covers another exactly when it does on this universe: brute force is an exact reference for containment.
 */
const UNIVERSE: string[] = (() => {
  const values = [...LITERALS, 'z', '$z'];
  const topics: string[] = [];
  let layer: string[][] = [[]];
  for (let length = 1; length <= MAX_LEVELS + 1; length++) {
    layer = layer.flatMap((prefix) => values.map((value) => [...prefix, value]));
    topics.push(...layer.map((levels) => levels.join('/')));
  }
  return topics;
})();

/** Which topics of the universe a filter matches, per the reference; memoised, filters repeat a lot. */
const universeMatches = new Map<string, Uint8Array>();
function matchesInUniverse(filter: string): Uint8Array {
  let matches = universeMatches.get(filter);
  if (matches === undefined) {
    const regex = referenceRegex(filter);
    matches = Uint8Array.from(UNIVERSE, (topic) => (regex.test(topic) ? 1 : 0));
    universeMatches.set(filter, matches);
  }
  return matches;
}

function referenceCovers(outer: string, inner: string): boolean {
  const outerMatches = matchesInUniverse(outer);
  return matchesInUniverse(inner).every((matched, i) => matched === 0 || outerMatches[i] === 1);
}

/** A topic the subscription matches: wildcards replaced by levels, `#` by zero to two of them. */
function instantiate(filter: string, fills: string[]): string {
  const out: string[] = [];
  let next = 0;
  const fill = () => fills[next++ % fills.length]!;
  for (const level of filter.split('/')) {
    if (level === '+') out.push(fill());
    else if (level === '#') {
      const extra = fills.length % 3;
      for (let i = 0; i < extra; i++) out.push(fill());
    } else out.push(level);
  }
  if (out.length === 0) out.push(fill());
  return out.join('/');
}

describe('properties against the reference matcher', () => {
  it('topicMatches agrees with the reference', () => {
    fc.assert(
      fc.property(filterArb, topicArb, (filter, topic) => {
        expect(topicMatches(filter, topic)).toBe(referenceMatches(filter, topic));
      }),
      { numRuns: 2000 },
    );
  });

  it('a compiled publish ACL allows a topic exactly when some filter matches it', () => {
    fc.assert(
      fc.property(aclArb, fc.array(topicArb, { minLength: 1, maxLength: 10 }), (acl, topics) => {
        const compiled = compileAcl(acl);
        for (const topic of topics) {
          const expected = acl.pub.some((filter) => referenceMatches(filter, topic));
          expect(authorize(compiled, 'publish', topic).ok).toBe(expected);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('a subscription is allowed exactly when one sub filter covers it (sound and complete)', () => {
    fc.assert(
      fc.property(aclArb, filterArb, (acl, subscription) => {
        const expected = acl.sub.some((filter) => referenceCovers(filter, subscription));
        expect(authorize(compileAcl(acl), 'subscribe', subscription).ok).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('soundness: every topic an allowed subscription matches, some sub filter matches too', () => {
    fc.assert(
      fc.property(
        aclArb,
        filterArb,
        fc.array(fc.array(topicLevel, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 10 }),
        (acl, subscription, fillsList) => {
          fc.pre(authorize(compileAcl(acl), 'subscribe', subscription).ok);
          for (const fills of fillsList) {
            const topic = instantiate(subscription, fills);
            // An empty topic is no topic name; a '$' fill in a first-level wildcard is no match.
            if (topic === '' || !referenceMatches(subscription, topic)) continue;
            expect(acl.sub.some((filter) => referenceMatches(filter, topic))).toBe(true);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('filterCovers agrees with brute-force containment', () => {
    fc.assert(
      fc.property(filterArb, filterArb, (outer, inner) => {
        expect(filterCovers(outer, inner)).toBe(referenceCovers(outer, inner));
      }),
      { numRuns: 1000 },
    );
  });

  it('a shared subscription is decided on its inner filter', () => {
    fc.assert(
      fc.property(aclArb, filterArb, (acl, subscription) => {
        const compiled = compileAcl(acl);
        expect(authorize(compiled, 'subscribe', `$share/group/${subscription}`)).toEqual(
          authorize(compiled, 'subscribe', subscription),
        );
      }),
      { numRuns: 500 },
    );
  });
});
