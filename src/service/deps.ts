// What every use case is built from; the runtime assembles it.
import type { Clock } from '../core/clock.js';
import type { IdGenerator } from '../core/ids.js';
import type { KeyEncryptionKey } from '../crypto/key-encryption.js';
import type { Store } from '../store/port.js';

/**
 * Told by the services of every change that verifiers holding a broker in memory must apply at once (the
 * broker webhooks'), and that revocation sinks deliver. Called after the change is written; never throws.
 */
export interface BrokerChangeListener {
  /** The broker's settings or signing keys changed, or it was deleted. */
  brokerChanged(brokerId: string): void;
  /** The namespace was deleted, and every broker in it. */
  namespaceDeleted(namespaceId: string): void;
  /** The broker's revocation list changed. */
  revocationsChanged(brokerId: string): void;
  /** Credentials were issued for the broker (issued, refreshed or exchanged). */
  credentialsIssued(brokerId: string): void;
}

/** One listener that tells each of `listeners`, in order. */
export function tellEach(...listeners: BrokerChangeListener[]): BrokerChangeListener {
  return {
    brokerChanged: (brokerId) => {
      for (const listener of listeners) listener.brokerChanged(brokerId);
    },
    namespaceDeleted: (namespaceId) => {
      for (const listener of listeners) listener.namespaceDeleted(namespaceId);
    },
    revocationsChanged: (brokerId) => {
      for (const listener of listeners) listener.revocationsChanged(brokerId);
    },
    credentialsIssued: (brokerId) => {
      for (const listener of listeners) listener.credentialsIssued(brokerId);
    },
  };
}

export interface ServiceDeps {
  store: Store;
  keyEncryptionKey: KeyEncryptionKey;
  clock: Clock;
  newId: IdGenerator;
  /** `iss` of brokers created without an explicit issuer. */
  defaultIssuer: string;
  /** Structured log lines from background work (the scheduled job); requests are logged by the HTTP layer. */
  log?: (line: Record<string, unknown>) => void;
  /** Seconds a retired signing key stays published for tokens without `exp` (default 7 days). */
  keyOverlapSeconds?: number;
  /** For identity sources (JWKS, webhooks); default: the global fetch. */
  fetch?: typeof fetch;
  /** Most jtis one broker's revocation list may hold; a revoke that would pass it is refused (409). */
  maxRevocationsPerBroker?: number;
  /** Told of broker, key and revocation changes; createServices points it at the webhooks' verifiers. */
  brokerChanges?: BrokerChangeListener;
  /** Days the scheduled job keeps audit events (GATEPASS_AUDIT_RETENTION_DAYS); 0 or omitted: forever. */
  auditRetentionDays?: number;
  /** Refreshes a minute per presented credential and per client id of a broker; 0 or omitted: unlimited. */
  refreshPerMinute?: number;
}
