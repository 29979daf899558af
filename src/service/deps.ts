// What every use case is built from; the runtime assembles it.
import type { Clock } from '../core/clock.js';
import type { IdGenerator } from '../core/ids.js';
import type { KeyEncryptionKey } from '../crypto/key-encryption.js';
import type { Store } from '../store/port.js';

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
  /** Refreshes a minute per presented credential and per client id of a broker; 0 or omitted: unlimited. */
  refreshPerMinute?: number;
}
