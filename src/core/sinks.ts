// Revocation sinks' vocabulary: their kinds, the webhook event types and the audit actions they come from,
// and the retry schedule of a failing delivery.
import type { AuditAction } from './audit.js';

/**
 * `rabbitmq` and `emqx` disconnect a revoked credential's client through the broker's management API;
 * `webhook` posts signed events (Standard Webhooks) to the user's own systems.
 */
export const SINK_KINDS = ['rabbitmq', 'emqx', 'webhook'] as const;
export type SinkKind = (typeof SINK_KINDS)[number];

/** The sinks that disconnect clients: they follow the broker's revocation feed. */
export type KickSinkKind = Exclude<SinkKind, 'webhook'>;

export const WEBHOOK_EVENT_TYPES = [
  'credentials.issued',
  'credentials.revoked',
  'credentials.unrevoked',
  'signing_key.rotated',
  'signing_key.revoked',
  'signing_key.published',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/**
 * The event type a webhook sink delivers each audit action as; null: not delivered (configuration changes).
 * Every change to a broker's key set is delivered: a system that caches the keys, or alerts on a compromised
 * one, acts on each. Exhaustive, so a new audit action has to be placed here before the code compiles.
 */
export const WEBHOOK_EVENT_OF: Readonly<Record<AuditAction, WebhookEventType | null>> = {
  'credentials.issue': 'credentials.issued',
  'credentials.refresh': 'credentials.issued',
  'credentials.exchange': 'credentials.issued',
  'revocations.revoke': 'credentials.revoked',
  'revocations.unrevoke': 'credentials.unrevoked',
  'signing_key.rotate': 'signing_key.rotated',
  'signing_key.revoke': 'signing_key.revoked',
  'signing_key.publish': 'signing_key.published',
  'namespace.create': null,
  'namespace.update': null,
  'namespace.delete': null,
  'broker.create': null,
  'broker.update': null,
  'broker.delete': null,
  'identity_source.create': null,
  'identity_source.update': null,
  'identity_source.delete': null,
  'revocation_sink.create': null,
  'revocation_sink.update': null,
  'revocation_sink.delete': null,
  'admin_key.create': null,
  'admin_key.delete': null,
};

/** The audit actions delivered as one of `types`. */
export function auditActionsFor(types: readonly WebhookEventType[]): AuditAction[] {
  return (Object.entries(WEBHOOK_EVENT_OF) as Array<[AuditAction, WebhookEventType | null]>)
    .filter(([, type]) => type !== null && types.includes(type))
    .map(([action]) => action);
}

/** The first retry comes after about this long; each failure in a row doubles it, up to the cap. */
export const RETRY_BASE_MS = 1_000;
export const RETRY_CAP_MS = 5 * 60_000;

/**
 * Milliseconds to wait after the `failures`-th failure in a row: exponential from RETRY_BASE_MS, capped at
 * RETRY_CAP_MS, with "equal jitter" (half fixed, half random) so that sinks that failed together, or several
 * processes, do not retry in step. `random` returns [0, 1).
 */
export function retryDelayMs(failures: number, random: () => number): number {
  const ceiling = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.min(Math.max(failures, 1) - 1, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
