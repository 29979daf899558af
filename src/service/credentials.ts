// Issuing credentials: a batch of signed, broker-scoped JWTs and their metadata records.
import type { CredentialClaims, TopicAcl } from '../core/claims.js';
import { toEpochSeconds } from '../core/clock.js';
import { ServiceError } from '../core/errors.js';
import { credentialLifetime } from '../core/expiration.js';
import { signCredential } from '../crypto/sign.js';
import type { IssuedCredentialRecord } from '../store/port.js';
import type { Actor } from './access.js';
import type { BrokerService } from './brokers.js';
import type { ServiceDeps } from './deps.js';
import type { Keyring } from './keyring.js';

export const MAX_CREDENTIALS_PER_CALL = 100;

export interface IssueRequest {
  /** How many client IDs to generate; ignored when `clientIds` is given. */
  number: number;
  /** Exactly these client IDs get a token each, so a stable client can rotate its credential. */
  clientIds?: string[];
  topicAcl?: TopicAcl;
  /** Seconds, or -1 for no `exp`. */
  expiration?: number;
}

/** clientId -> JWT, in request order. */
export type IssuedCredentials = Record<string, string>;

export function createCredentialService(
  { store, clock, newId }: ServiceDeps,
  brokers: BrokerService,
  keyring: Keyring,
) {
  return {
    async issue(
      actor: Actor,
      namespaceName: string,
      brokerName: string,
      request: IssueRequest,
    ): Promise<IssuedCredentials> {
      const { broker } = await brokers.access(actor, namespaceName, brokerName, 'write');
      const lifetime = credentialLifetime(broker.expiration, request.expiration);
      if (!lifetime.ok) throw new ServiceError('invalid_input', lifetime.message, 'expiration');

      const clientIds = request.clientIds ?? Array.from({ length: request.number }, newId);
      const key = await keyring.currentSigningKey(broker);
      const issuedAt = toEpochSeconds(clock());
      const expiresAt = lifetime.seconds === null ? null : issuedAt + lifetime.seconds;
      const topicAcl = request.topicAcl ?? broker.defaultTopicAcl;

      const claims = clientIds.map(
        (clientId): CredentialClaims => ({
          iss: broker.issuer,
          aud: broker.audience,
          sub: clientId,
          jti: newId(),
          iat: issuedAt,
          ...(expiresAt === null ? {} : { exp: expiresAt }),
          topicAcl,
        }),
      );
      const tokens = await Promise.all(claims.map((claim) => signCredential(claim, key)));
      await store.insertIssuedCredentials(
        claims.map(
          (claim): IssuedCredentialRecord => ({
            brokerId: broker.id,
            jti: claim.jti,
            clientId: claim.sub,
            kid: key.kid,
            issuedAt,
            expiresAt,
            issuedBy: actor.keyId,
          }),
        ),
      );
      return Object.fromEntries(claims.map((claim, i) => [claim.sub, tokens[i]!]));
    },
  };
}

export type CredentialService = ReturnType<typeof createCredentialService>;
