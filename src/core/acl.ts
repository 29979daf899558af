// Topic ACL decisions: MQTT topic matching, subscription containment, and ACLs compiled once per session.
import type { TopicAcl } from './claims.js';
import { MAX_TOPIC_BYTES, topicFilterProblem, topicNameProblem } from './topic.js';

/**
 * What a client asks to do: send a PUBLISH to a topic name, or SUBSCRIBE with a topic filter.
 *
 * @example
 * const action: AclAction = packet.cmd === 'subscribe' ? 'subscribe' : 'publish';
 */
export type AclAction = 'publish' | 'subscribe';

/**
 * Why a request was refused:
 * - `invalid_topic`: a PUBLISH topic name that MQTT forbids (empty, wildcards, U+0000, > 65,535 bytes).
 * - `invalid_filter`: a SUBSCRIBE topic filter that MQTT forbids.
 * - `invalid_shared_subscription`: `$share/...` without a share name or a filter, or a share name
 *   containing a wildcard (MQTT 5 §4.8.2).
 * - `not_permitted`: well formed, but no ACL filter allows it.
 *
 * @example
 * const denial: AclDenial = 'not_permitted';
 * aclReasonCode(denial); // 0x87, Not authorized
 */
export type AclDenial = 'invalid_topic' | 'invalid_filter' | 'invalid_shared_subscription' | 'not_permitted';

/**
 * The outcome of {@link authorize}; the objects are shared constants, so a check allocates nothing.
 *
 * @example
 * const decision: AclDecision = authorize(acl, 'publish', 'plant/line-3/temperature');
 * if (!decision.ok) log.info({ reason: decision.reason }, 'PUBLISH refused');
 */
export type AclDecision = { readonly ok: true } | { readonly ok: false; readonly reason: AclDenial };

/** One direction of a compiled ACL. Build with {@link compileAcl}; treat the members as opaque. */
export interface CompiledFilters {
  /** Filters without wildcards: each matches exactly the topic name equal to it. */
  readonly exact: ReadonlySet<string>;
  /** Filters with wildcards as a trie of levels, or undefined when there are none. */
  readonly trie: TrieNode | undefined;
  /** The same wildcard filters as level arrays, for subscription containment. */
  readonly wildcards: readonly (readonly string[])[];
}

/**
 * A topic ACL prepared for repeated checks: build once per session, then call {@link authorize}.
 *
 * @example
 * const acl: CompiledAcl = compileAcl({ pub: ['plant/line-3/#'], sub: ['plant/commands/+'] });
 */
export interface CompiledAcl {
  readonly topicAcl: TopicAcl;
  readonly pub: CompiledFilters;
  readonly sub: CompiledFilters;
}

/** A trie level: literal children, a `+` child, whether a `#` ends here, and whether a filter ends here. */
export interface TrieNode {
  readonly literal: Map<string, TrieNode>;
  plus: TrieNode | undefined;
  hash: boolean;
  end: boolean;
}

const ALLOWED: AclDecision = Object.freeze({ ok: true });
const denied = (reason: AclDenial): AclDecision => Object.freeze({ ok: false, reason });
const INVALID_TOPIC = denied('invalid_topic');
const INVALID_FILTER = denied('invalid_filter');
const INVALID_SHARE = denied('invalid_shared_subscription');
const NOT_PERMITTED = denied('not_permitted');

const SHARE_PREFIX = '$share/';
const DOLLAR = 0x24;

/**
 * Whether a topic name matches a topic filter (MQTT 5 §4.7): `+` is exactly one level, `#` is any number
 * of levels including none (`sport/#` matches `sport`), levels may be empty, and a filter whose first level
 * is a wildcard never matches a topic beginning with `$`. Both arguments are assumed valid.
 *
 * @example
 * topicMatches('sport/#', 'sport'); // true
 * topicMatches('sport/+', 'sport'); // false
 * topicMatches('+/monitor/Clients', '$SYS/monitor/Clients'); // false
 */
export function topicMatches(filter: string, topic: string): boolean {
  const filterLevels = filter.split('/');
  const topicLevels = topic.split('/');
  if (topic.charCodeAt(0) === DOLLAR && isWildcard(filterLevels[0]!)) return false;
  for (let i = 0; i < filterLevels.length; i++) {
    const level = filterLevels[i]!;
    if (level === '#') return true;
    if (i >= topicLevels.length) return false;
    if (level !== '+' && level !== topicLevels[i]) return false;
  }
  return filterLevels.length === topicLevels.length;
}

/**
 * Whether every topic name `inner` can match is also matched by `outer` (both valid filters). The only
 * non-syntactic case is `#` at the first level: every topic has a first level, so `#` and `+/#` match
 * the same topics, and both are normalised to `+/#` before comparing level by level.
 *
 * @example
 * filterCovers('a/#', 'a/+'); // true
 * filterCovers('a/+', 'a/#'); // false: 'a/#' also matches 'a' and 'a/b/c'
 * filterCovers('#', '$SYS/#'); // false: '#' never matches topics beginning with '$'
 */
export function filterCovers(outer: string, inner: string): boolean {
  return coversLevels(normalisedLevels(outer), normalisedLevels(inner));
}

/**
 * Prepares a topic ACL for per-message checks. `'#'` is every topic in both directions with MQTT's
 * wildcard semantics, so it does not cover topics beginning with `$`. Throws a TypeError on an invalid
 * filter: ACLs come from verified claims, so that is a programming error, not a client's.
 *
 * @example
 * // Once per session (the verifier's sessions carry theirs as `session.acl`):
 * const acl = compileAcl({ pub: ['devices/d1/#'], sub: ['devices/d1/commands/+'] });
 */
export function compileAcl(topicAcl: TopicAcl): CompiledAcl {
  if (topicAcl !== '#') {
    for (const filter of [...topicAcl.pub, ...topicAcl.sub]) {
      const problem = topicFilterProblem(filter);
      if (problem !== null) throw new TypeError(`invalid topic filter in ACL: ${problem}`);
    }
  }
  return compileValidAcl(topicAcl);
}

/**
 * {@link compileAcl} for an ACL that `topicAclSchema` has just accepted, skipping a second validation of
 * every filter on the verifier's cold path.
 */
export function compileValidAcl(topicAcl: TopicAcl): CompiledAcl {
  if (topicAcl === '#') {
    const all = compileFilters(['#']);
    return { topicAcl, pub: all, sub: all };
  }
  return { topicAcl, pub: compileFilters(topicAcl.pub), sub: compileFilters(topicAcl.sub) };
}

/**
 * Decides a PUBLISH (`topic` is a topic name that must match some `pub` filter) or a SUBSCRIBE (`topic` is
 * a topic filter; every topic it can match must be matched by one single `sub` filter). A shared
 * subscription `$share/{name}/{filter}` is decided on its inner filter.
 *
 * @example
 * const acl = compileAcl({ pub: ['plant/line-3/#'], sub: ['plant/commands/+'] });
 * authorize(acl, 'publish', 'plant/line-3/temperature'); // { ok: true }
 * authorize(acl, 'subscribe', 'plant/commands/#'); // { ok: false, reason: 'not_permitted' }
 * authorize(acl, 'subscribe', '$share/workers/plant/commands/reboot'); // { ok: true }
 */
export function authorize(acl: CompiledAcl, action: AclAction, topic: string): AclDecision {
  if (action === 'publish') {
    if (topicNameProblem(topic) !== null) return INVALID_TOPIC;
    return matchesAny(acl.pub, topic) ? ALLOWED : NOT_PERMITTED;
  }
  let filter = topic;
  if (filter.startsWith(SHARE_PREFIX)) {
    const rest = filter.slice(SHARE_PREFIX.length);
    const slash = rest.indexOf('/');
    if (slash <= 0 || slash === rest.length - 1) return INVALID_SHARE;
    const shareName = rest.slice(0, slash);
    if (shareName.includes('+') || shareName.includes('#') || shareName.includes('\u0000'))
      return INVALID_SHARE;
    filter = rest.slice(slash + 1);
  }
  // A client may subscribe with any filter MQTT allows, not only those short enough for an ACL.
  if (topicFilterProblem(filter, MAX_TOPIC_BYTES) !== null) return INVALID_FILTER;
  if (!filter.includes('+') && !filter.includes('#')) {
    // A filter without wildcards matches exactly one topic name: itself.
    return matchesAny(acl.sub, filter) ? ALLOWED : NOT_PERMITTED;
  }
  const levels = normalisedLevels(filter);
  // A filter with a wildcard matches infinitely many topics, so no exact ACL filter can cover it.
  for (const outer of acl.sub.wildcards) {
    if (coversLevels(outer, levels)) return ALLOWED;
  }
  return NOT_PERMITTED;
}

function compileFilters(filters: readonly string[]): CompiledFilters {
  const exact = new Set<string>();
  const wildcards: string[][] = [];
  let trie: TrieNode | undefined;
  for (const filter of filters) {
    if (!filter.includes('+') && !filter.includes('#')) {
      exact.add(filter);
      continue;
    }
    wildcards.push(normalisedLevels(filter));
    trie ??= newNode();
    insert(trie, filter.split('/'));
  }
  return { exact, trie, wildcards };
}

function newNode(): TrieNode {
  return { literal: new Map(), plus: undefined, hash: false, end: false };
}

function insert(root: TrieNode, levels: readonly string[]): void {
  let node = root;
  for (const level of levels) {
    if (level === '#') {
      node.hash = true;
      return;
    }
    if (level === '+') {
      node.plus ??= newNode();
      node = node.plus;
      continue;
    }
    let next = node.literal.get(level);
    if (next === undefined) {
      next = newNode();
      node.literal.set(level, next);
    }
    node = next;
  }
  node.end = true;
}

function matchesAny(filters: CompiledFilters, topic: string): boolean {
  if (filters.exact.has(topic)) return true;
  const root = filters.trie;
  if (root === undefined) return false;
  const dollar = topic.charCodeAt(0) === DOLLAR;
  if (root.hash && !dollar) return true;
  return walk(root, topic.split('/'), 0, dollar);
}

/**
 * Depth-first over the trie. Each trie node is reachable by one path only, so a check visits every node
 * at most once: the cost is bounded by the ACL's size, whatever the topic.
 */
function walk(node: TrieNode, levels: readonly string[], i: number, dollar: boolean): boolean {
  // MQTT 5 §4.7.2: wildcards in the first level never match a topic beginning with '$'.
  const wildcardsMatch = i !== 0 || !dollar;
  if (node.hash && wildcardsMatch) return true;
  if (i === levels.length) return node.end;
  const next = node.literal.get(levels[i]!);
  if (next !== undefined && walk(next, levels, i + 1, dollar)) return true;
  return node.plus !== undefined && wildcardsMatch && walk(node.plus, levels, i + 1, dollar);
}

function isWildcard(level: string): boolean {
  return level === '+' || level === '#';
}

function normalisedLevels(filter: string): string[] {
  return filter === '#' ? ['+', '#'] : filter.split('/');
}

function coversLevels(outer: readonly string[], inner: readonly string[]): boolean {
  const innerFirst = inner[0]!;
  const innerHasDollarTopics = !isWildcard(innerFirst) && innerFirst.charCodeAt(0) === DOLLAR;
  if (innerHasDollarTopics && isWildcard(outer[0]!)) return false;
  for (let i = 0; ; i++) {
    const o = outer[i];
    const s = inner[i];
    // `#` covers whatever follows, including nothing (the parent level).
    if (o === '#') return true;
    if (s === undefined) return o === undefined;
    if (o === undefined) return false;
    // `#` in inner also matches the parent level and deeper levels, which `+` or a literal cannot.
    if (s === '#') return false;
    if (o === '+') continue;
    if (s !== o) return false;
  }
}
