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
}
