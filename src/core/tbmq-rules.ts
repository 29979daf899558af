// A topic ACL as TBMQ's authorization rules: regular expressions a topic name (publish) or a topic filter
// (subscribe) must match whole, allowing exactly what gatepass's `authorize` allows.
import type { TopicAcl } from './claims.js';

/** The rules TBMQ reads from a token (its JWT provider's publish and subscribe rule claims). */
export interface TbmqRules {
  pub: string[];
  sub: string[];
}

/**
 * TBMQ compiles each rule with Java's `Pattern.compile` and grants when one `matcher(topic).matches()`: a
 * PUBLISH's topic name, or a SUBSCRIBE's topic filter as the client wrote it, wildcards included (with
 * `$share/{group}/` removed), after checking that it is a valid filter. So:
 *
 * - a publish rule matches the topic names the filter matches (MQTT 5 §4.7: `+` one level, `#` any number
 *   of levels including none, so `a/#` matches `a`; a wildcard first level never matches a topic
 *   beginning with `$`);
 * - a subscribe rule matches the filters the filter covers (`filterCovers` in acl.ts): under a `+`, any
 *   level but `#`; under `#`, anything; a literal level, only itself; and `#` alone also where the
 *   filter is `#` or `+/#`, which match the same topics.
 *
 * The expressions use only what Java's and JavaScript's engines read the same way: escaped literals,
 * `(?:...)`, `?`, `*`, `|` and negated classes of ASCII characters. An empty list grants nothing.
 *
 * @example
 * tbmqRules({ pub: ['plant/+'], sub: ['alerts/#'] });
 * // { pub: ['plant/[^/]*'], sub: ['alerts(?:/[^/]*)*'] }
 */
export function tbmqRules(topicAcl: TopicAcl): TbmqRules {
  const { pub, sub } = topicAcl === '#' ? { pub: ['#'], sub: ['#'] } : topicAcl;
  return { pub: [...new Set(pub)].map(publishRule), sub: [...new Set(sub)].map(subscribeRule) };
}

/** Java's and JavaScript's metacharacters outside a class, escaped with a backslash in both. */
const METACHARACTERS = /[\\^$.|?*+()[\]{}]/g;
const literal = (level: string) => level.replace(METACHARACTERS, '\\$&');

/** `#` after a level: nothing more, or any number of further levels. */
const ANY_LEVELS_BELOW = '(?:/[^/]*)*';

/** Topic names: a wildcard first level is any level not beginning with `$`, even an empty one. */
const PUBLISH = { firstLevel: '(?:[^/$][^/]*)?', level: '[^/#]*' };
/** Subscribed filters: the same, and never `#` (which also matches the level above and all below). */
const SUBSCRIBE = { firstLevel: '(?:[^/#$][^/#]*)?', level: '[^/#]*' };

function publishRule(filter: string): string {
  return rule(filter.split('/'), PUBLISH);
}

function subscribeRule(filter: string): string {
  const levels = filter === '#' ? ['+', '#'] : filter.split('/');
  const expression = rule(levels, SUBSCRIBE);
  // `#` and `+/#` cover a subscription to `#` itself.
  return levels.length === 2 && levels[0] === '+' && levels[1] === '#' ? `${expression}|#` : expression;
}

function rule(levels: readonly string[], wildcard: { firstLevel: string; level: string }): string {
  let expression = '';
  for (const [i, level] of levels.entries()) {
    if (level === '#') return expression + (i === 0 ? wildcard.firstLevel : '') + ANY_LEVELS_BELOW;
    if (i > 0) expression += '/';
    if (level === '+') expression += i === 0 ? wildcard.firstLevel : wildcard.level;
    else expression += literal(level);
  }
  return expression;
}
