// Brokers: the audience of credentials, each with its own signing keys, expiration and default ACL.

import {
  type ClaimProfile,
  claimProfileProblem,
  DEFAULT_CLAIM_PROFILE,
  defaultAlgorithm,
} from '../core/claim-profiles.js';
import {
  ALL_TOPICS,
  DEFAULT_MAX_CLIENT_ID_LENGTH,
  type SigningAlgorithm,
  type TopicAcl,
} from '../core/claims.js';
import { notFound, ServiceError } from '../core/errors.js';
import { type PublicJwk, toPublicJwk } from '../crypto/keys.js';
import type { BrokerRecord, NamespaceRecord } from '../store/port.js';
import { type Actor, accessNamespace, type Permission } from './access.js';
import { brokerEvent, changedFields, withWireNames } from './audit.js';
import type { ServiceDeps } from './deps.js';
import { newSigningKeyRecord } from './keyring.js';
import { mapPage, type PageRequest, type PageResult, toStorePage } from './paging.js';

export interface BrokerSettings {
  description?: string;
  expiration?: number | null;
  keyRotationPeriod?: number | null;
  maxLifetime?: number | null;
  maxClientIdLength?: number;
  defaultTopicAcl?: TopicAcl;
  issuer?: string;
  audience?: string;
  claimProfile?: ClaimProfile;
}

export interface BrokerInput extends BrokerSettings {
  name: string;
  algorithm?: SigningAlgorithm;
}

export interface BrokerView extends BrokerRecord {
  namespace: string;
}

export function defaultAudience(namespace: string, broker: string): string {
  return `${broker}.${namespace}`;
}

/**
 * Refuses settings the broker's claim profile cannot work with, naming the field the request set that is
 * at fault: the profile itself, else the lifetime that was removed.
 */
function checkClaimProfile(broker: BrokerRecord, request: BrokerSettings): void {
  const problem = claimProfileProblem(broker);
  if (problem === null) return;
  const field =
    request.claimProfile !== undefined
      ? 'claim_profile'
      : request.expiration !== undefined
        ? 'expiration'
        : 'max_lifetime';
  throw new ServiceError('invalid_input', problem, field);
}

/** A broker's settings as the audit trail records them, in the API's field names. */
function auditedSettings({
  description,
  expiration,
  algorithm,
  defaultTopicAcl,
  issuer,
  audience,
  keyRotationPeriod,
  maxLifetime,
  maxClientIdLength,
  claimProfile,
}: BrokerRecord): Record<string, unknown> {
  return withWireNames({
    description,
    expiration,
    algorithm,
    defaultTopicAcl,
    issuer,
    audience,
    keyRotationPeriod,
    maxLifetime,
    maxClientIdLength,
    claimProfile,
  });
}

export function createBrokerService(deps: ServiceDeps) {
  const { store, clock, newId, keyEncryptionKey, defaultIssuer, brokerChanges } = deps;
  const view = (namespace: NamespaceRecord) => (broker: BrokerRecord) => ({
    ...broker,
    namespace: namespace.name,
  });

  async function access(actor: Actor, namespaceName: string, brokerName: string, needed: Permission) {
    const namespace = await accessNamespace(store, actor, namespaceName, needed);
    const broker = await store.findBroker(namespace.id, brokerName);
    if (!broker) throw notFound('broker');
    return { namespace, broker };
  }

  return {
    access,

    async create(actor: Actor, namespaceName: string, input: BrokerInput): Promise<BrokerView> {
      const namespace = await accessNamespace(store, actor, namespaceName, 'write');
      const now = clock();
      const claimProfile = input.claimProfile ?? DEFAULT_CLAIM_PROFILE;
      const algorithm = input.algorithm ?? defaultAlgorithm(claimProfile);
      const id = newId();
      const broker: BrokerRecord = {
        id,
        namespaceId: namespace.id,
        name: input.name,
        description: input.description ?? '',
        authType: 'TOKEN',
        expiration: input.expiration ?? null,
        algorithm,
        defaultTopicAcl: input.defaultTopicAcl ?? ALL_TOPICS,
        issuer: input.issuer ?? defaultIssuer,
        audience: input.audience ?? defaultAudience(namespace.name, input.name),
        keyRotationPeriod: input.keyRotationPeriod ?? null,
        maxLifetime: input.maxLifetime ?? null,
        maxClientIdLength: input.maxClientIdLength ?? DEFAULT_MAX_CLIENT_ID_LENGTH,
        claimProfile,
        createdAt: now,
        modifiedAt: now,
      };
      checkClaimProfile(broker, input);
      // The first key signs at once (no verifier can hold a key set of a broker that did not exist); the
      // second is published ahead as the next key.
      const current = await newSigningKeyRecord(keyEncryptionKey, id, algorithm, now, now);
      const next = await newSigningKeyRecord(keyEncryptionKey, id, algorithm, now);
      const inserted = await store.insertBroker(
        broker,
        [current, next],
        brokerEvent(
          'broker.create',
          actor.keyId,
          now,
          { namespace, broker },
          { id, ...auditedSettings(broker), kid: current.kid, next_kid: next.kid },
        ),
      );
      if (!inserted) {
        throw new ServiceError(
          'conflict',
          `a broker named '${input.name}' already exists in this namespace`,
          'name',
        );
      }
      return view(namespace)(broker);
    },

    async list(actor: Actor, namespaceName: string, page: PageRequest): Promise<PageResult<BrokerView>> {
      const namespace = await accessNamespace(store, actor, namespaceName, 'read');
      return mapPage(page, await store.listBrokers(namespace.id, toStorePage(page)), view(namespace));
    },

    async get(actor: Actor, namespaceName: string, brokerName: string): Promise<BrokerView> {
      const { namespace, broker } = await access(actor, namespaceName, brokerName, 'read');
      return view(namespace)(broker);
    },

    async update(
      actor: Actor,
      namespaceName: string,
      brokerName: string,
      changes: BrokerSettings,
    ): Promise<BrokerView> {
      const { namespace, broker } = await access(actor, namespaceName, brokerName, 'write');
      // A setting given as undefined is left as it is, by the store too.
      const updatedSettings = Object.fromEntries(
        Object.entries(changes).filter(([, value]) => value !== undefined),
      ) as BrokerSettings;
      checkClaimProfile({ ...broker, ...updatedSettings }, changes);
      const now = clock();
      const audit = brokerEvent(
        'broker.update',
        actor.keyId,
        now,
        { namespace, broker },
        {
          changes: changedFields(auditedSettings(broker), auditedSettings({ ...broker, ...updatedSettings })),
        },
      );
      const updated = await store.updateBroker(broker.id, { ...changes, modifiedAt: now }, audit);
      if (!updated) throw notFound('broker');
      brokerChanges?.brokerChanged(broker.id);
      return view(namespace)(updated);
    },

    async delete(actor: Actor, namespaceName: string, brokerName: string): Promise<void> {
      const { namespace, broker } = await access(actor, namespaceName, brokerName, 'write');
      await store.deleteBroker(
        broker.id,
        brokerEvent('broker.delete', actor.keyId, clock(), { namespace, broker }, { id: broker.id }),
      );
      brokerChanges?.brokerChanged(broker.id);
    },

    /** Public: brokers and verifiers fetch this without an admin key. */
    async publicKeys(namespaceName: string, brokerName: string): Promise<{ keys: PublicJwk[] }> {
      const namespace = await store.findNamespace(namespaceName);
      const broker = namespace && (await store.findBroker(namespace.id, brokerName));
      if (!broker) throw notFound('broker');
      const keys = await store.listSigningKeys(broker.id);
      return { keys: keys.map((key) => toPublicJwk(key.publicJwk, key.kid, key.algorithm)) };
    },
  };
}

export type BrokerService = ReturnType<typeof createBrokerService>;
