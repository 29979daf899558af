// Wire schemas of revocation sinks, with their JSON view: secrets are write-only, views show their hint.
import { z } from '@hono/zod-openapi';
import { resourceNameSchema } from '../core/names.js';
import { RETRY_BASE_MS, RETRY_CAP_MS, WEBHOOK_EVENT_TYPES } from '../core/sinks.js';
import {
  DEFAULT_SINK_TIMEOUT_MS,
  MAX_SINK_TIMEOUT_MS,
  MIN_SINK_TIMEOUT_MS,
  type RevocationSinkUpdate as RevocationSinkChanges,
  type RevocationSinkInput,
  type RevocationSinkView,
} from '../service/revocation-sinks.js';
import { httpUrl } from './exchange-schemas.js';
import { BrokerParams, timestamp, wellFormedStrings } from './schemas.js';

/** A name for HTTP Basic: no `:` (it ends the user name there), no control characters. */
const basicUser = z
  .string()
  .regex(/^[^\p{Cc}:]{1,255}$/u, '1 to 255 characters, without ":" or control characters');
const machineSecret = z
  .string()
  .min(16, 'use a long random secret: at least 16 characters')
  .max(1024)
  .regex(/^\P{Cc}*$/u, 'must have no control characters');

const common = {
  name: resourceNameSchema,
  url: httpUrl.openapi({ description: 'Redirects are not followed' }),
  timeout_ms: z
    .number()
    .int()
    .min(MIN_SINK_TIMEOUT_MS)
    .max(MAX_SINK_TIMEOUT_MS)
    .optional()
    .openapi({ description: `Deadline for each call (default ${DEFAULT_SINK_TIMEOUT_MS})` }),
};

const kickFields = {
  rabbitmq: {
    username: basicUser.openapi({
      description: 'A management user with the `administrator` tag (RabbitMQ’s internal database)',
    }),
    password: machineSecret.openapi({ description: 'Its password; write-only' }),
  },
  emqx: {
    api_key: basicUser.openapi({ description: 'An EMQX API key allowed to kick clients' }),
    api_secret: machineSecret.openapi({ description: 'Its secret; write-only' }),
  },
};

const webhookFields = {
  secret: z
    .string()
    .max(128)
    .optional()
    .openapi({
      description:
        'A Standard Webhooks secret: `whsec_` and 24 to 64 random bytes in base64. Write-only; when ' +
        'absent, gatepass generates one and returns it once, in the answer to the creation.',
    }),
  events: z
    .array(z.enum(WEBHOOK_EVENT_TYPES))
    .min(1)
    .max(WEBHOOK_EVENT_TYPES.length)
    .optional()
    .openapi({ description: 'The event types delivered (default: all)' }),
};

export const RevocationSinkParams = BrokerParams.extend({
  name: resourceNameSchema.meta({ param: { name: 'name', in: 'path' }, example: 'rabbit' }),
});

export const RevocationSinkCreate = z
  .discriminatedUnion('kind', [
    z.strictObject({ ...common, kind: z.literal('rabbitmq'), ...kickFields.rabbitmq }),
    z.strictObject({ ...common, kind: z.literal('emqx'), ...kickFields.emqx }),
    z.strictObject({ ...common, kind: z.literal('webhook'), ...webhookFields }),
  ])
  .superRefine((body, ctx) => wellFormedStrings(body, ctx))
  .openapi('RevocationSinkCreate');

export const RevocationSinkUpdate = z
  .strictObject({
    url: common.url.optional(),
    timeout_ms: common.timeout_ms,
    username: kickFields.rabbitmq.username.optional(),
    password: kickFields.rabbitmq.password.optional(),
    api_key: kickFields.emqx.api_key.optional(),
    api_secret: kickFields.emqx.api_secret.optional(),
    ...webhookFields,
  })
  .superRefine((body, ctx) => wellFormedStrings(body, ctx))
  .openapi('RevocationSinkUpdate', {
    description: 'Fields of the sink’s own kind; a change makes the next attempt at once.',
  });

const when = z.string().nullable();
const sinkCommon = {
  id: z.string(),
  name: z.string(),
  namespace: z.string(),
  broker: z.string(),
  url: z.string(),
  timeout_ms: z.number().int(),
  status: z.enum(['ok', 'pending', 'failing']).openapi({
    description:
      '`failing`: the last attempt failed, and it is retried with backoff; `pending`: changes wait to be ' +
      'delivered; `ok`: every change is delivered',
  }),
  pending: z.number().int().openapi({ description: 'Changes waiting to be delivered' }),
  attempts: z.number().int().openapi({ description: 'Failed attempts in a row (0 once one succeeds)' }),
  last_error: z.string().nullable().openapi({ description: 'Why the last attempt failed' }),
  failing_since: when.openapi({ description: 'The first failure in a row' }),
  next_attempt_on: when.openapi({
    description: `When the next attempt is due after a failure (backoff from ${RETRY_BASE_MS / 1000} s doubling to ${RETRY_CAP_MS / 60_000} min, with jitter)`,
  }),
  last_delivered_on: when,
  created_on: z.string(),
  modified_on: z.string(),
};

export const RevocationSink = z
  .discriminatedUnion('kind', [
    z.object({
      ...sinkCommon,
      kind: z.literal('rabbitmq'),
      username: z.string(),
      password_hint: z.string().openapi({ description: 'The last characters of the password' }),
    }),
    z.object({
      ...sinkCommon,
      kind: z.literal('emqx'),
      api_key: z.string(),
      api_secret_hint: z.string().openapi({ description: 'The last characters of the API secret' }),
    }),
    z.object({
      ...sinkCommon,
      kind: z.literal('webhook'),
      events: z.array(z.enum(WEBHOOK_EVENT_TYPES)),
      secret_hint: z.string().openapi({ description: 'The last characters of the secret' }),
    }),
  ])
  .openapi('RevocationSink');

export const RevocationSinkCreated = z
  .discriminatedUnion('kind', [
    RevocationSink.options[0],
    RevocationSink.options[1],
    RevocationSink.options[2].extend({
      secret: z.string().optional().openapi({
        description: 'The secret gatepass generated (none was given): shown once, never again',
      }),
    }),
  ])
  .openapi('RevocationSinkCreated');

const optionalTime = (ms: number | null) => (ms === null ? null : timestamp(ms));

export function revocationSinkJson(sink: RevocationSinkView) {
  const common = {
    id: sink.id,
    name: sink.name,
    namespace: sink.namespace,
    broker: sink.broker,
    url: sink.url,
    timeout_ms: sink.timeoutMs,
    status: sink.delivery.status,
    pending: sink.delivery.pending,
    attempts: sink.delivery.attempts,
    last_error: sink.delivery.lastError,
    failing_since: optionalTime(sink.delivery.failingSince),
    next_attempt_on: optionalTime(sink.delivery.nextAttemptAt),
    last_delivered_on: optionalTime(sink.delivery.lastDeliveredAt),
    created_on: timestamp(sink.createdAt),
    modified_on: timestamp(sink.modifiedAt),
  };
  switch (sink.kind) {
    case 'rabbitmq':
      return { ...common, kind: sink.kind, username: sink.username, password_hint: sink.secretHint };
    case 'emqx':
      return { ...common, kind: sink.kind, api_key: sink.username, api_secret_hint: sink.secretHint };
    case 'webhook':
      return { ...common, kind: sink.kind, events: sink.events, secret_hint: sink.secretHint };
  }
}

export function toRevocationSinkInput(body: z.infer<typeof RevocationSinkCreate>): RevocationSinkInput {
  const { name, url } = body;
  const timeoutMs = body.timeout_ms;
  switch (body.kind) {
    case 'rabbitmq':
      return { name, kind: body.kind, url, timeoutMs, username: body.username, secret: body.password };
    case 'emqx':
      return { name, kind: body.kind, url, timeoutMs, username: body.api_key, secret: body.api_secret };
    case 'webhook':
      return { name, kind: body.kind, url, timeoutMs, secret: body.secret, events: body.events };
  }
}

export function toRevocationSinkChanges(body: z.infer<typeof RevocationSinkUpdate>): RevocationSinkChanges {
  return {
    url: body.url,
    timeoutMs: body.timeout_ms,
    username: body.username,
    password: body.password,
    apiKey: body.api_key,
    apiSecret: body.api_secret,
    secret: body.secret,
    events: body.events,
  };
}
