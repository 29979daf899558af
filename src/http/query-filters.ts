// Topic filters in a query string, where URLs mangle them: `+` arrives as a space, `#` starts the fragment
// (which clients never send), and Cloudflare's documentation writes the ACL in double quotes.
import { z } from '@hono/zod-openapi';
import { type TopicAcl, topicFilterSchema } from '../core/claims.js';

const ENCODE_HINT = "encode the query (curl -G --data-urlencode 'pub=rooms/+/temp')";
const FRAGMENT_CUT = "an unencoded '#' starts the URL's fragment, which clients never send";

/**
 * A filter from the query form. `"#"` (as Cloudflare's curl examples quote it) is the filter inside the
 * quotes. A value that opens a quote and never closes it was cut short at an unencoded `#` (`topicAcl="#"`
 * arrives as `topicAcl="`): refused, since no ACL means a filter starting with a lone quote, and issuing it
 * would hand out a credential for nothing the caller asked for. An empty value (`topicAcl=#` arrives as
 * `topicAcl=`) is refused as any empty filter is, saying why it may have happened.
 */
export const queryTopicFilterSchema = z
  .string()
  .superRefine((value, ctx) => {
    if (value === '') {
      ctx.addIssue({
        code: 'custom',
        message: `a topic filter must not be empty; if it was '#': ${FRAGMENT_CUT}; ${ENCODE_HINT}`,
      });
    } else if (value.startsWith('"') && (value.length < 2 || !value.endsWith('"'))) {
      ctx.addIssue({ code: 'custom', message: `an unclosed double quote: ${FRAGMENT_CUT}; ${ENCODE_HINT}` });
    }
  })
  .transform((value) => (value.length >= 2 && value.startsWith('"') ? value.slice(1, -1) : value))
  .pipe(topicFilterSchema);

/**
 * Warnings for the envelope's `messages` about filters that look mangled by the URL: a space (an unencoded
 * `+`) or an empty last level (a `#` cut off as the fragment). Both are valid MQTT filters, so the
 * credentials are issued as asked; the warning says what probably happened.
 */
export function mangledFilterWarnings(acl: TopicAcl | undefined): string[] {
  if (acl === undefined || typeof acl === 'string') return [];
  return [...new Set([...acl.pub, ...acl.sub])].flatMap((filter) => [
    ...(filter.includes(' ')
      ? [
          `the filter ${JSON.stringify(filter)} has a space: an unencoded '+' in a query arrives as a space; ${ENCODE_HINT}`,
        ]
      : []),
    ...(filter.endsWith('/')
      ? [`the filter ${JSON.stringify(filter)} ends with an empty level: ${FRAGMENT_CUT}; ${ENCODE_HINT}`]
      : []),
  ]);
}
