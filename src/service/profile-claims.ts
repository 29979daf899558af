// The extra claims of a broker's claim profile, built from a credential's topic ACL, so that EMQX's or TBMQ's
// own JWT authenticator enforces what gatepass's verifier would (docs/brokers/emqx.md, docs/brokers/tbmq.md).
import type { ClaimProfile } from '../core/claim-profiles.js';
import type { TopicAcl } from '../core/claims.js';
import { tbmqRules } from '../core/tbmq-rules.js';
import { emqxAclRules } from '../verifier/adapters/emqx.js';

/**
 * Where TBMQ's JWT provider finds what it needs: its `clientTypeClaims`, `pubAuthRuleClaim` and
 * `subAuthRuleClaim` settings name these claims (docs/brokers/tbmq.md).
 */
export const TBMQ_CLAIMS = {
  clientType: 'tbmq_client_type',
  pub: 'tbmq_pub',
  sub: 'tbmq_sub',
} as const;

/** Every gatepass client is a TBMQ device: TBMQ's application clients keep persistent Kafka-backed sessions. */
export const TBMQ_CLIENT_TYPE = 'DEVICE';

/**
 * The claims a profile adds beside the standard ones (which they never replace):
 * - `emqx`: `acl`, the same rules the EMQX webhook answers with (`emqxAclRules`): they grant exactly what
 *   `topicAcl` does under EMQX's matching, end with a deny of everything else, and pass no `${...}`
 *   placeholder through;
 * - `tbmq`: the client type, and `topicAcl` as TBMQ's publish and subscribe regular expressions.
 */
export function profileClaims(profile: ClaimProfile, topicAcl: TopicAcl): Record<string, unknown> {
  switch (profile) {
    case 'standard':
      return {};
    case 'emqx':
      return { acl: emqxAclRules(topicAcl) };
    case 'tbmq': {
      const rules = tbmqRules(topicAcl);
      return {
        [TBMQ_CLAIMS.clientType]: TBMQ_CLIENT_TYPE,
        [TBMQ_CLAIMS.pub]: rules.pub,
        [TBMQ_CLAIMS.sub]: rules.sub,
      };
    }
  }
}
