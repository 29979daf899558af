// MQTT topic names and topic filters: validation rules from MQTT 3.1.1 §4.7 / MQTT 5 §4.7.

/** Longest topic filter we accept in an ACL, in UTF-8 bytes (MQTT allows 65,535; ACLs never need that). */
export const MAX_FILTER_BYTES = 1024;

/** MQTT §1.5.4: a UTF-8 encoded string, topic names and filters included, is at most 65,535 bytes. */
export const MAX_TOPIC_BYTES = 65_535;

export type TopicProblem =
  | 'empty'
  | 'too_long'
  | 'null_character'
  | 'wildcard_not_whole_level'
  | 'multi_level_wildcard_not_last';

/** What can be wrong with the topic name of a PUBLISH packet. */
export type TopicNameProblem = 'empty' | 'too_long' | 'null_character' | 'wildcard';

const utf8 = new TextEncoder();

/**
 * Checks an MQTT topic filter (wildcards allowed); returns what is wrong with it, or null. `maxBytes`
 * defaults to the ACL limit; pass `MAX_TOPIC_BYTES` to check a filter a client subscribes with.
 */
export function topicFilterProblem(filter: string, maxBytes: number = MAX_FILTER_BYTES): TopicProblem | null {
  if (filter.length === 0) return 'empty';
  if (utf8ByteLengthExceeds(filter, maxBytes)) return 'too_long';
  if (filter.includes('\u0000')) return 'null_character';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.length > 1 && (level.includes('+') || level.includes('#'))) return 'wildcard_not_whole_level';
    if (level === '#' && i !== levels.length - 1) return 'multi_level_wildcard_not_last';
  }
  return null;
}

/** Checks the topic name of a PUBLISH packet (MQTT §4.7.3: no wildcards, not empty); null when valid. */
export function topicNameProblem(name: string): TopicNameProblem | null {
  if (name.length === 0) return 'empty';
  if (utf8ByteLengthExceeds(name, MAX_TOPIC_BYTES)) return 'too_long';
  if (name.includes('\u0000')) return 'null_character';
  if (name.includes('+') || name.includes('#')) return 'wildcard';
  return null;
}

/** Whether `value` is longer than `maxBytes` in UTF-8, without allocating for the common short case. */
function utf8ByteLengthExceeds(value: string, maxBytes: number): boolean {
  // A UTF-16 code unit encodes to at most 3 UTF-8 bytes, and to at least 1.
  if (value.length * 3 <= maxBytes) return false;
  if (value.length > maxBytes) return true;
  return utf8.encode(value).byteLength > maxBytes;
}

export const topicProblemMessages: Record<TopicProblem, string> = {
  empty: 'a topic filter must not be empty',
  too_long: `a topic filter must be at most ${MAX_FILTER_BYTES} bytes of UTF-8`,
  null_character: 'a topic filter must not contain U+0000',
  wildcard_not_whole_level: "'+' and '#' must occupy a whole topic level",
  multi_level_wildcard_not_last: "'#' must be the last level of a topic filter",
};

export const topicNameProblemMessages: Record<TopicNameProblem, string> = {
  empty: 'a topic name must not be empty',
  too_long: `a topic name must be at most ${MAX_TOPIC_BYTES} bytes of UTF-8`,
  null_character: 'a topic name must not contain U+0000',
  wildcard: "a topic name must not contain the wildcards '+' or '#'",
};
