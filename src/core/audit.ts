// The audit trail's vocabulary: which actions are recorded, and the shape of one event.

/**
 * Every recorded action. Issuing, refreshing and exchanging hand out credentials; revoking and un-revoking
 * change the revocation list; rotation replaces a broker's signing key (on schedule or on request), revoking
 * one takes a compromised key out of its key set at once, and publishing puts out a next key for a broker
 * that had none (one created before keys were published ahead); namespaces, brokers, identity sources,
 * revocation sinks and admin keys are the configuration that decides who may do the rest.
 */
export const AUDIT_ACTIONS = [
  'credentials.issue',
  'credentials.refresh',
  'credentials.exchange',
  'revocations.revoke',
  'revocations.unrevoke',
  'signing_key.rotate',
  'signing_key.revoke',
  'signing_key.publish',
  'namespace.create',
  'namespace.update',
  'namespace.delete',
  'broker.create',
  'broker.update',
  'broker.delete',
  'identity_source.create',
  'identity_source.update',
  'identity_source.delete',
  'revocation_sink.create',
  'revocation_sink.update',
  'revocation_sink.delete',
  'admin_key.create',
  'admin_key.delete',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Who acted when no admin key did: the scheduled job (key rotation). */
export const SCHEDULER_ACTOR = 'scheduler';

/** Who registered an admin key at start-up: the generated first key, or GATEPASS_ADMIN_TOKEN's. */
export const STARTUP_ACTOR = 'startup';

/** One event as written. `details` holds jtis, client ids, kids and names: never a token or a secret. */
export interface AuditEventRecord {
  /** Epoch ms. */
  at: number;
  action: AuditAction;
  /** An admin key id, `refresh:<presented jti>`, `scheduler` or `startup`. */
  actor: string;
  namespaceId: string | null;
  namespace: string | null;
  brokerId: string | null;
  broker: string | null;
  details: Record<string, unknown>;
}

export interface AuditEvent extends AuditEventRecord {
  /** Position in the trail: later events have larger numbers. */
  seq: number;
}

/** Which events to list; every given field must match. */
export interface AuditFilter {
  /** A namespace-scoped reader sees only its namespace's events. */
  namespaceId?: string;
  namespace?: string;
  broker?: string;
  action?: AuditAction;
  actor?: string;
  /** Epoch ms: events at or after. */
  since?: number;
}
