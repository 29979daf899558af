// Issuing credentials: a batch of signed, broker-scoped JWTs and their metadata records.
import type { AuditEventRecord } from '../core/audit.js';
import {
  type CredentialClaims,
  clientIdRule,
  isClientId,
  MAX_CREDENTIAL_BYTES,
  type TopicAcl,
} from '../core/claims.js';
import { toEpochSeconds } from '../core/clock.js';
import { ServiceError } from '../core/errors.js';
import { freshCredentialLifetime } from '../core/expiration.js';
import { signCredential } from '../crypto/sign.js';
import type { BrokerRecord, IssuedCredentialRecord } from '../store/port.js';
import type { Actor } from './access.js';
import { brokerEvent } from './audit.js';
import type { BrokerService } from './brokers.js';
import type { ServiceDeps } from './deps.js';
import type { Keyring } from './keyring.js';
import { profileClaims } from './profile-claims.js';

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

/** One issued credential: what a client needs, and the jti to revoke it by. */
export interface IssuedCredential {
  clientId: string;
  token: string;
  jti: string;
  /** Epoch seconds; null: no `exp`. */
  expiresAt: number | null;
}

/** One credential to sign: the client ID its `sub` binds, its topic ACL and its `exp`. */
export interface Grant {
  clientId: string;
  topicAcl: TopicAcl;
  /** Epoch seconds; null: no `exp`. */
  expiresAt: number | null;
  /** Refreshed credentials: when the first credential of the chain was issued (the `orig_iat` claim). */
  originalIssuedAt?: number;
}

export interface SignAndRecordRequest {
  broker: BrokerRecord;
  grants: readonly Grant[];
  /** Epoch seconds. */
  issuedAt: number;
  /** The admin key id, or another provenance (`refresh:<jti>`). */
  issuedBy: string;
  /** A refresh: the jti of the credential the new one replaces (revoking it revokes the new one too). */
  parentJti?: string;
  /** Writes the records in place of `store.insertIssuedCredentials`, e.g. together with a revocation. */
  record?: (records: IssuedCredentialRecord[]) => Promise<void>;
  /** The audit event for these records, written in the same transaction (without `record`). */
  audit?: (records: IssuedCredentialRecord[]) => AuditEventRecord;
}

export interface SignedGrant {
  token: string;
  claims: CredentialClaims;
}

/**
 * Signs one credential per grant with the broker's current key and records their metadata (never the JWTs),
 * all or nothing: the one way every use case (issue, token exchange, refresh) hands out credentials.
 */
export type SignAndRecord = (request: SignAndRecordRequest) => Promise<SignedGrant[]>;

export function createCredentialSigner(
  { store, newId, brokerChanges }: ServiceDeps,
  keyring: Keyring,
): SignAndRecord {
  return async ({ broker, grants, issuedAt, issuedBy, parentJti = null, record, audit }) => {
    const key = await keyring.currentSigningKey(broker);
    const claims = grants.map(
      ({ clientId, topicAcl, expiresAt, originalIssuedAt }): CredentialClaims => ({
        iss: broker.issuer,
        aud: broker.audience,
        sub: clientId,
        jti: newId(),
        iat: issuedAt,
        ...(originalIssuedAt === undefined ? {} : { orig_iat: originalIssuedAt }),
        ...(expiresAt === null ? {} : { exp: expiresAt }),
        topicAcl,
      }),
    );
    // Grants of one request share their ACL: its profile claims are built once.
    const extras = new Map<TopicAcl, Record<string, unknown>>();
    const extraFor = (topicAcl: TopicAcl) => {
      let extra = extras.get(topicAcl);
      if (extra === undefined) {
        extra = profileClaims(broker.claimProfile, topicAcl);
        extras.set(topicAcl, extra);
      }
      return extra;
    };
    const tokens = await Promise.all(
      claims.map((claim) => signCredential(claim, key, extraFor(claim.topicAcl))),
    );
    const longest = Math.max(...tokens.map((token) => token.length));
    if (longest > MAX_CREDENTIAL_BYTES) {
      // Nothing is recorded: a credential no broker would accept is not issued.
      throw new ServiceError(
        'invalid_input',
        `the credential would be ${longest} bytes; brokers accept at most ${MAX_CREDENTIAL_BYTES}: shorten the topic ACL` +
          (broker.claimProfile === 'standard' ? '' : ` (its ${broker.claimProfile} claims repeat it)`),
        'topicAcl',
      );
    }
    const records = claims.map(
      (claim): IssuedCredentialRecord => ({
        brokerId: broker.id,
        jti: claim.jti,
        clientId: claim.sub,
        kid: key.kid,
        issuedAt,
        expiresAt: claim.exp ?? null,
        issuedBy,
        parentJti,
      }),
    );
    await (record ?? ((rows) => store.insertIssuedCredentials(rows, audit?.(rows))))(records);
    brokerChanges?.credentialsIssued(broker.id);
    return claims.map((claim, i) => ({ token: tokens[i]!, claims: claim }));
  };
}

/** What the audit trail keeps of issued credentials: their jtis, client ids and expiry, never the tokens. */
export function issuedDetails(records: IssuedCredentialRecord[]): Record<string, unknown> {
  return {
    credentials: records.map((record) => ({ jti: record.jti, client_id: record.clientId })),
    kid: records[0]?.kid ?? null,
    exp: records[0]?.expiresAt ?? null,
  };
}

export function createCredentialService(deps: ServiceDeps, brokers: BrokerService, keyring: Keyring) {
  const signAndRecord = createCredentialSigner(deps, keyring);
  return {
    async issue(
      actor: Actor,
      namespaceName: string,
      brokerName: string,
      request: IssueRequest,
    ): Promise<IssuedCredential[]> {
      const { namespace, broker } = await brokers.access(actor, namespaceName, brokerName, 'write');
      const lifetime = freshCredentialLifetime(broker, request.expiration);
      if (!lifetime.ok) throw new ServiceError('invalid_input', lifetime.message, 'expiration');

      // The wire checked each id against the longest any broker allows; this broker may allow fewer.
      const tooLong = request.clientIds?.findIndex((id) => !isClientId(id, broker.maxClientIdLength)) ?? -1;
      if (tooLong >= 0) {
        throw new ServiceError(
          'invalid_input',
          `${clientIdRule(broker.maxClientIdLength)} for this broker (its max_client_id_length)`,
          `clientid.${tooLong}`,
        );
      }
      const clientIds = request.clientIds ?? Array.from({ length: request.number }, deps.newId);
      const topicAcl = request.topicAcl ?? broker.defaultTopicAcl;
      const now = deps.clock();
      const issuedAt = toEpochSeconds(now);
      const expiresAt = lifetime.seconds === null ? null : issuedAt + lifetime.seconds;
      const signed = await signAndRecord({
        broker,
        grants: clientIds.map((clientId) => ({ clientId, topicAcl, expiresAt })),
        issuedAt,
        issuedBy: actor.keyId,
        audit: (records) =>
          brokerEvent('credentials.issue', actor.keyId, now, { namespace, broker }, issuedDetails(records)),
      });
      return signed.map(({ claims, token }) => ({
        clientId: claims.sub,
        token,
        jti: claims.jti,
        expiresAt: claims.exp ?? null,
      }));
    },
  };
}

export type CredentialService = ReturnType<typeof createCredentialService>;
