// Brokers: the audience of credentials, each with its own signing keys, expiration and default ACL.
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
      const algorithm = input.algorithm ?? 'EdDSA';
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
        createdAt: now,
        modifiedAt: now,
      };
      const key = await newSigningKeyRecord(keyEncryptionKey, id, algorithm, now);
      const inserted = await store.insertBroker(
        broker,
        key,
        brokerEvent(
          'broker.create',
          actor.keyId,
          now,
          { namespace, broker },
          {
            id,
            ...auditedSettings(broker),
            kid: key.kid,
          },
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
      const now = clock();
      const audit = brokerEvent(
        'broker.update',
        actor.keyId,
        now,
        { namespace, broker },
        {
          // A setting given as undefined is left as it is, by the store too.
          changes: changedFields(
            auditedSettings(broker),
            auditedSettings({
              ...broker,
              ...Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined)),
            }),
          ),
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
