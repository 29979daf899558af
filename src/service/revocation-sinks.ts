// Revocation sinks: where a broker's changes are delivered (a RabbitMQ or EMQX management API that disconnects
// revoked clients, or a signed webhook), with their delivery state. Secrets are sealed under the key-encryption
// key, bound to the sink, and never returned: views show their last characters only.
import { notFound, ServiceError } from '../core/errors.js';
import {
  auditActionsFor,
  type KickSinkKind,
  WEBHOOK_EVENT_TYPES,
  type WebhookEventType,
} from '../core/sinks.js';
import { generateWebhookSecret, webhookSecretKey } from '../crypto/webhook-signature.js';
import type {
  BrokerRecord,
  KickSinkSettings,
  NamespaceRecord,
  RevocationSinkConfig,
  RevocationSinkRecord,
  WebhookSinkSettings,
} from '../store/port.js';
import type { Actor } from './access.js';
import { brokerEvent, changedFields, withWireNames } from './audit.js';
import type { BrokerService } from './brokers.js';
import type { ServiceDeps } from './deps.js';
import { mapPage, type PageRequest, type PageResult, toStorePage } from './paging.js';
import type { SinkDelivery } from './sink-delivery.js';

export const DEFAULT_SINK_TIMEOUT_MS = 5000;
export const MIN_SINK_TIMEOUT_MS = 100;
export const MAX_SINK_TIMEOUT_MS = 30_000;
/** Characters of a secret shown in views, as for admin keys. */
const HINT_LENGTH = 4;

/** What a `rabbitmq` or `emqx` sink is given: the management API, and who it is there. */
export interface KickSinkFields {
  url: string;
  /** The RabbitMQ management user, or the EMQX API key. */
  username: string;
  /** The password, or the EMQX API secret. */
  secret: string;
  timeoutMs?: number;
}

export interface WebhookSinkFields {
  url: string;
  /** A `whsec_` secret; generated (and returned once) when absent. */
  secret?: string;
  timeoutMs?: number;
  /** Default: every type. */
  events?: WebhookEventType[];
}

export type RevocationSinkInput = { name: string } & (
  | ({ kind: KickSinkKind } & KickSinkFields)
  | ({ kind: 'webhook' } & WebhookSinkFields)
);

/** A change to a sink: fields of its own kind only. */
export interface RevocationSinkUpdate {
  url?: string;
  timeoutMs?: number;
  /** rabbitmq */
  username?: string;
  password?: string;
  /** emqx */
  apiKey?: string;
  apiSecret?: string;
  /** webhook */
  secret?: string;
  events?: WebhookEventType[];
}

/** Where the sink stands: `failing` after a failed attempt, until one succeeds; `pending` while changes wait. */
export interface SinkDeliveryView {
  status: 'ok' | 'pending' | 'failing';
  /** Changes after the cursor (for a webhook, of the event types it takes). */
  pending: number;
  attempts: number;
  lastError: string | null;
  failingSince: number | null;
  nextAttemptAt: number | null;
  lastDeliveredAt: number | null;
}

export type RevocationSinkView = {
  id: string;
  name: string;
  namespace: string;
  broker: string;
  url: string;
  timeoutMs: number;
  secretHint: string;
  delivery: SinkDeliveryView;
  createdAt: number;
  modifiedAt: number;
} & ({ kind: KickSinkKind; username: string } | { kind: 'webhook'; events: WebhookEventType[] });

export interface CreatedRevocationSink {
  sink: RevocationSinkView;
  /** The webhook secret gatepass generated: returned this once, never again. */
  generatedSecret?: string;
}

/** A sink's secret is bound to the sink, so a sealed value copied to another row will not open. */
export function sinkSealingContext(sinkId: string): string {
  return `gatepass:revocation-sink:${sinkId}`;
}

/** The sink's secret, unsealed (for a delivery). */
export function unsealSinkSecret(
  { keyEncryptionKey }: Pick<ServiceDeps, 'keyEncryptionKey'>,
  sink: RevocationSinkRecord,
): Promise<string> {
  return keyEncryptionKey.decrypt(sink.settings.sealedSecret, sinkSealingContext(sink.id));
}

/** The fields each kind takes; errors and the audit trail name them as the API does. */
const FIELDS_OF: Record<RevocationSinkConfig['kind'], ReadonlyArray<keyof RevocationSinkUpdate>> = {
  rabbitmq: ['url', 'timeoutMs', 'username', 'password'],
  emqx: ['url', 'timeoutMs', 'apiKey', 'apiSecret'],
  webhook: ['url', 'timeoutMs', 'secret', 'events'],
};
const WIRE: Record<keyof RevocationSinkUpdate, string> = {
  url: 'url',
  timeoutMs: 'timeout_ms',
  username: 'username',
  password: 'password',
  apiKey: 'api_key',
  apiSecret: 'api_secret',
  secret: 'secret',
  events: 'events',
};

const invalid = (message: string, field: string) => new ServiceError('invalid_input', message, field);

function hint(secret: string): string {
  return secret.slice(-HINT_LENGTH);
}

export function createRevocationSinkService(
  deps: ServiceDeps,
  brokers: BrokerService,
  delivery: Pick<SinkDelivery, 'sinkChanged'>,
) {
  const { store, clock, newId, keyEncryptionKey } = deps;

  async function find(broker: BrokerRecord, name: string): Promise<RevocationSinkRecord> {
    const sink = await store.findRevocationSink(broker.id, name);
    if (!sink) throw notFound('revocation sink');
    return sink;
  }

  async function sealed(sinkId: string, secret: string) {
    return {
      sealedSecret: await keyEncryptionKey.encrypt(secret, sinkSealingContext(sinkId)),
      secretHint: hint(secret),
    };
  }

  function checkWebhookSecret(secret: string): string {
    if (webhookSecretKey(secret) === undefined) {
      throw invalid('a webhook secret is whsec_ and 24 to 64 bytes in base64', 'secret');
    }
    return secret;
  }

  /** The changes waiting after the cursor. */
  function pending(sink: RevocationSinkRecord): Promise<number> {
    return sink.kind === 'webhook'
      ? store.countBrokerAuditEvents(sink.brokerId, sink.cursor, auditActionsFor(sink.settings.events))
      : store.countRevocationChanges(sink.brokerId, sink.cursor);
  }

  async function toView(
    namespace: NamespaceRecord,
    broker: BrokerRecord,
    sink: RevocationSinkRecord,
  ): Promise<RevocationSinkView> {
    const waiting = await pending(sink);
    const common = {
      id: sink.id,
      name: sink.name,
      namespace: namespace.name,
      broker: broker.name,
      url: sink.settings.url,
      timeoutMs: sink.settings.timeoutMs,
      secretHint: sink.settings.secretHint,
      delivery: {
        status: sink.attempts > 0 ? 'failing' : waiting > 0 ? 'pending' : 'ok',
        pending: waiting,
        attempts: sink.attempts,
        lastError: sink.lastError,
        failingSince: sink.failingSince,
        nextAttemptAt: sink.nextAttemptAt,
        lastDeliveredAt: sink.lastDeliveredAt,
      } satisfies SinkDeliveryView,
      createdAt: sink.createdAt,
      modifiedAt: sink.modifiedAt,
    };
    return sink.kind === 'webhook'
      ? { ...common, kind: 'webhook', events: sink.settings.events }
      : { ...common, kind: sink.kind, username: sink.settings.username };
  }

  /** A sink's settings as the audit trail records them: no secret, its hint only, in the API's field names. */
  function audited(config: RevocationSinkConfig): Record<string, unknown> {
    const { sealedSecret: _, ...settings } = config.settings;
    const fields = withWireNames({ kind: config.kind, ...settings });
    if (config.kind === 'emqx') {
      const { username, ...rest } = fields;
      return { ...rest, api_key: username };
    }
    return fields;
  }

  return {
    async create(
      actor: Actor,
      namespaceName: string,
      brokerName: string,
      input: RevocationSinkInput,
    ): Promise<CreatedRevocationSink> {
      const { namespace, broker } = await brokers.access(actor, namespaceName, brokerName, 'write');
      const id = newId();
      const now = clock();
      let config: RevocationSinkConfig;
      let generatedSecret: string | undefined;
      if (input.kind === 'webhook') {
        generatedSecret = input.secret === undefined ? generateWebhookSecret() : undefined;
        const secret = generatedSecret ?? checkWebhookSecret(input.secret!);
        config = {
          kind: 'webhook',
          settings: {
            url: input.url,
            ...(await sealed(id, secret)),
            timeoutMs: input.timeoutMs ?? DEFAULT_SINK_TIMEOUT_MS,
            events: [...new Set(input.events ?? WEBHOOK_EVENT_TYPES)],
          },
        };
      } else {
        config = {
          kind: input.kind,
          settings: {
            url: input.url,
            username: input.username,
            ...(await sealed(id, input.secret)),
            timeoutMs: input.timeoutMs ?? DEFAULT_SINK_TIMEOUT_MS,
          },
        };
      }
      const sink = { id, brokerId: broker.id, name: input.name, createdAt: now, modifiedAt: now, ...config };
      const audit = brokerEvent(
        'revocation_sink.create',
        actor.keyId,
        now,
        { namespace, broker },
        { id, name: input.name, ...audited(config) },
      );
      if (!(await store.insertRevocationSink(sink, audit))) {
        throw new ServiceError(
          'conflict',
          `a revocation sink named '${input.name}' already exists for this broker`,
          'name',
        );
      }
      const created = await find(broker, input.name);
      return {
        sink: await toView(namespace, broker, created),
        ...(generatedSecret === undefined ? {} : { generatedSecret }),
      };
    },

    async list(
      actor: Actor,
      namespaceName: string,
      brokerName: string,
      page: PageRequest,
    ): Promise<PageResult<RevocationSinkView>> {
      const { namespace, broker } = await brokers.access(actor, namespaceName, brokerName, 'read');
      const paged = await store.listRevocationSinks(broker.id, toStorePage(page));
      const items = await Promise.all(paged.items.map((sink) => toView(namespace, broker, sink)));
      return mapPage(page, { items, total: paged.total }, (view) => view);
    },

    async get(actor: Actor, namespaceName: string, brokerName: string, name: string) {
      const { namespace, broker } = await brokers.access(actor, namespaceName, brokerName, 'read');
      return toView(namespace, broker, await find(broker, name));
    },

    async update(
      actor: Actor,
      namespaceName: string,
      brokerName: string,
      name: string,
      changes: RevocationSinkUpdate,
    ): Promise<RevocationSinkView> {
      const { namespace, broker } = await brokers.access(actor, namespaceName, brokerName, 'write');
      const sink = await find(broker, name);
      const misplaced = (Object.keys(WIRE) as Array<keyof RevocationSinkUpdate>).find(
        (field) => changes[field] !== undefined && !FIELDS_OF[sink.kind].includes(field),
      );
      if (misplaced)
        throw invalid(`${WIRE[misplaced]} does not apply to a ${sink.kind} sink`, WIRE[misplaced]);
      if (changes.secret !== undefined) checkWebhookSecret(changes.secret);
      // Of these, only the sink's own kind's can be set (checked above).
      const newSecret = changes.password ?? changes.apiSecret ?? changes.secret;
      const secretField = (['password', 'apiSecret', 'secret'] as const).find(
        (f) => changes[f] !== undefined,
      );
      const secret = newSecret === undefined ? {} : await sealed(sink.id, newSecret);
      const common = {
        url: changes.url ?? sink.settings.url,
        timeoutMs: changes.timeoutMs ?? sink.settings.timeoutMs,
      };
      let config: RevocationSinkConfig;
      if (sink.kind === 'webhook') {
        const settings: WebhookSinkSettings = {
          ...sink.settings,
          ...common,
          ...secret,
          events: changes.events === undefined ? sink.settings.events : [...new Set(changes.events)],
        };
        config = { kind: 'webhook', settings };
      } else {
        const settings: KickSinkSettings = {
          ...sink.settings,
          ...common,
          ...secret,
          username: changes.username ?? changes.apiKey ?? sink.settings.username,
        };
        config = { kind: sink.kind, settings };
      }
      const now = clock();
      const audit = brokerEvent(
        'revocation_sink.update',
        actor.keyId,
        now,
        { namespace, broker },
        {
          name: sink.name,
          changes: changedFields(audited(sink), audited(config)),
          // Sealed values are never recorded: that one was set again is all the trail says.
          secrets_replaced: secretField === undefined ? [] : [WIRE[secretField]],
        },
      );
      const updated = await store.updateRevocationSink(sink.id, { config, modifiedAt: now }, audit);
      if (!updated) throw notFound('revocation sink');
      delivery.sinkChanged();
      return toView(namespace, broker, updated);
    },

    async delete(actor: Actor, namespaceName: string, brokerName: string, name: string): Promise<void> {
      const { namespace, broker } = await brokers.access(actor, namespaceName, brokerName, 'write');
      const sink = await find(broker, name);
      await store.deleteRevocationSink(
        sink.id,
        brokerEvent(
          'revocation_sink.delete',
          actor.keyId,
          clock(),
          { namespace, broker },
          { id: sink.id, name: sink.name, kind: sink.kind },
        ),
      );
    },
  };
}

export type RevocationSinkService = ReturnType<typeof createRevocationSinkService>;
