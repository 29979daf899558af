// All use cases, wired from one set of dependencies.
import { createAdminKeyService } from './admin-keys.js';
import { createBrokerService } from './brokers.js';
import { createCredentialService } from './credentials.js';
import type { ServiceDeps } from './deps.js';
import { createKeyring } from './keyring.js';
import { createNamespaceService } from './namespaces.js';
import { createRevocationService } from './revocations.js';

export function createServices(deps: ServiceDeps) {
  const brokers = createBrokerService(deps);
  return {
    ping: () => deps.store.ping(),
    namespaces: createNamespaceService(deps),
    brokers,
    credentials: createCredentialService(deps, brokers, createKeyring(deps)),
    revocations: createRevocationService(deps, brokers),
    adminKeys: createAdminKeyService(deps),
  };
}

export type Services = ReturnType<typeof createServices>;
export type { Actor } from './access.js';
