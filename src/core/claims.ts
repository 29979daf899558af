// The credential format: client IDs, topic ACLs and the JWT claims gatepass signs.
import { z } from 'zod';
import { topicFilterProblem, topicProblemMessages } from './topic.js';

/** Most filters a token may carry per direction: keeps tokens under the 4,096-byte password budget. */
export const MAX_FILTERS_PER_DIRECTION = 32;

/** The longest client id a broker may allow (its `max_client_id_length`), and so the verifier's bound on `sub`. */
export const MAX_CLIENT_ID_LENGTH = 256;
/** A broker's `max_client_id_length` unless it says otherwise: room for UUIDs, e-mail addresses, IdP subjects. */
export const DEFAULT_MAX_CLIENT_ID_LENGTH = 128;
/** The least `max_client_id_length`: generated client ids are 26-character ULIDs. */
export const MIN_MAX_CLIENT_ID_LENGTH = 26;

/**
 * The characters of a client id: ASCII letters and digits, `-`, `_`, `.`, `@`, `:` and `|` (UUIDs, e-mail
 * addresses, `urn:` names, Auth0's `provider|id`). Never a topic separator or wildcard (`/`, `+`, `#`), `$`,
 * `*`, U+0000, whitespace, control or non-ASCII characters: a client id placed in a topic level (a broker's
 * `%c` or `${clientid}` ACL pattern) cannot widen it, and one in a log line or header cannot break it.
 * MQTT 3.1.1 §3.1.3.1 only promises 1-23 of [0-9a-zA-Z]; the brokers gatepass supports take more (docs/api.md).
 */
const CLIENT_ID_CHARACTERS = /^[0-9A-Za-z._@:|-]*$/;
const CLIENT_ID_CHARACTERS_TEXT = 'ASCII letters, digits and - _ . @ : |';

/** The rule, worded for errors. */
export const clientIdRule = (maxLength: number) =>
  `a client id is 1 to ${maxLength} characters: ${CLIENT_ID_CHARACTERS_TEXT}`;

/** Whether `id` is a client id of at most `maxLength` characters: the one check every client id passes. */
export function isClientId(id: string, maxLength: number = MAX_CLIENT_ID_LENGTH): boolean {
  return id.length >= 1 && id.length <= maxLength && CLIENT_ID_CHARACTERS.test(id);
}

/**
 * A client id any broker could allow; a broker's own `max_client_id_length` is checked where it issues. Also
 * a token's `sub`, which is the client id it is bound to: the verifier accepts every id that can be issued,
 * and nothing else.
 */
export const clientIdSchema = z.string().refine((id) => isClientId(id), clientIdRule(MAX_CLIENT_ID_LENGTH));

export const topicFilterSchema = z.string().superRefine((filter, ctx) => {
  const problem = topicFilterProblem(filter);
  if (problem) ctx.addIssue({ code: 'custom', message: topicProblemMessages[problem] });
});

const filterListSchema = z.array(topicFilterSchema).max(MAX_FILTERS_PER_DIRECTION);

/** `#` grants every topic in both directions (as Cloudflare Pub/Sub); otherwise filters per direction. */
export const topicAclSchema = z.union([
  z.literal('#'),
  z.strictObject({ pub: filterListSchema, sub: filterListSchema }),
]);
export type TopicAcl = z.infer<typeof topicAclSchema>;

export const ALL_TOPICS: TopicAcl = '#';

/** Builds an ACL from the query form: `topicAcl` filters apply to both directions. */
export function aclFromFilters(both: string[], pub: string[], sub: string[]): TopicAcl | undefined {
  if (both.length === 0 && pub.length === 0 && sub.length === 0) return undefined;
  if (pub.length === 0 && sub.length === 0 && both.length === 1 && both[0] === '#') return ALL_TOPICS;
  return { pub: dedupe([...both, ...pub]), sub: dedupe([...both, ...sub]) };
}

function dedupe(filters: string[]): string[] {
  return [...new Set(filters)];
}

export const SIGNING_ALGORITHMS = ['EdDSA', 'ES256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

export const TOKEN_TYPE = 'JWT';

/**
 * The longest credential gatepass issues, in bytes (a compact JWS is ASCII): the verifier's MAX_TOKEN_BYTES,
 * so no broker refuses a credential for its size. 32 filters of 1,024 bytes a direction would be far more.
 */
export const MAX_CREDENTIAL_BYTES = 4096;

/** The payload of every credential gatepass issues. */
export interface CredentialClaims {
  iss: string;
  aud: string;
  sub: string;
  jti: string;
  iat: number;
  /** On refreshed credentials only: when the first credential of the chain was issued (max_lifetime). */
  orig_iat?: number;
  exp?: number;
  topicAcl: TopicAcl;
}
