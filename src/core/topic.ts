// MQTT topic names and topic filters: validation rules from MQTT 3.1.1 §4.7 / MQTT 5 §4.7.

/** Longest topic filter we accept in an ACL, in UTF-8 bytes (MQTT allows 65,535; ACLs never need that). */
export const MAX_FILTER_BYTES = 1024;

export type TopicProblem =
  | 'empty'
  | 'too_long'
  | 'null_character'
  | 'wildcard_not_whole_level'
  | 'multi_level_wildcard_not_last';

const utf8 = new TextEncoder();

/** Checks an MQTT topic filter (wildcards allowed); returns what is wrong with it, or null. */
export function topicFilterProblem(filter: string): TopicProblem | null {
  if (filter.length === 0) return 'empty';
  if (utf8.encode(filter).byteLength > MAX_FILTER_BYTES) return 'too_long';
  if (filter.includes('\u0000')) return 'null_character';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.length > 1 && (level.includes('+') || level.includes('#'))) return 'wildcard_not_whole_level';
    if (level === '#' && i !== levels.length - 1) return 'multi_level_wildcard_not_last';
  }
  return null;
}

export const topicProblemMessages: Record<TopicProblem, string> = {
  empty: 'a topic filter must not be empty',
  too_long: `a topic filter must be at most ${MAX_FILTER_BYTES} bytes of UTF-8`,
  null_character: 'a topic filter must not contain U+0000',
  wildcard_not_whole_level: "'+' and '#' must occupy a whole topic level",
  multi_level_wildcard_not_last: "'#' must be the last level of a topic filter",
};
