// The credential format: client IDs, topic ACLs and the JWT claims gatepass signs.
import { z } from 'zod';
import { topicFilterProblem, topicProblemMessages } from './topic.js';

/** Most filters a token may carry per direction: keeps tokens under the 4,096-byte password budget. */
export const MAX_FILTERS_PER_DIRECTION = 32;

/** MQTT 3.1.1 §3.1.3.1: servers must accept 1-23 bytes of [0-9a-zA-Z]; we also allow '_' and '-'. */
export const clientIdSchema = z
  .string()
  .regex(/^[0-9A-Za-z_-]{1,23}$/, 'a client id is 1 to 23 characters of [0-9A-Za-z_-]');

/**
 * A token's `sub`: the client ID it is bound to. Wider than what a request may name (generated ULIDs are
 * 26 characters; MQTT 3.1.1 lets servers accept more than 23 bytes and MQTT 5 brokers commonly do).
 */
export const subjectSchema = z.string().min(1).max(256);

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
