// All use cases, wired from one set of dependencies.
import { createAdminKeyService } from './admin-keys.js';
import { createAuditService } from './audit.js';
import { createBrokerVerifiers } from './broker-verifiers.js';
import { createBrokerService } from './brokers.js';
import { createCredentialService, createCredentialSigner } from './credentials.js';
import { type ServiceDeps, tellEach } from './deps.js';
import { createIdentitySourceService } from './identity-sources.js';
import { createKeyring } from './keyring.js';
import { createMaintenanceService } from './maintenance.js';
import { createNamespaceService } from './namespaces.js';
import { createRefreshService } from './refresh.js';
import { createRevocationSinkService } from './revocation-sinks.js';
import { createRevocationService } from './revocations.js';
import { createSigningKeyService } from './signing-keys.js';
import { createSinkDelivery } from './sink-delivery.js';
import { createTokenExchangeService } from './token-exchange.js';

export function createServices(serviceDeps: ServiceDeps) {
  const brokerVerifiers = createBrokerVerifiers(serviceDeps);
  const sinkDelivery = createSinkDelivery(serviceDeps);
  // Every broker, key and revocation change made through these services reaches the webhooks' verifiers at
  // once, and wakes the delivery to revocation sinks.
  const deps: ServiceDeps = {
    ...serviceDeps,
    brokerChanges: tellEach(brokerVerifiers.listener, sinkDelivery.listener),
  };
  const brokers = createBrokerService(deps);
  const keyring = createKeyring(deps);
  const signingKeys = createSigningKeyService(deps, brokers);
  return {
    ping: () => deps.store.ping(),
    namespaces: createNamespaceService(deps),
    brokers,
    credentials: createCredentialService(deps, brokers, keyring),
    refresh: createRefreshService(deps, createCredentialSigner(deps, keyring)),
    signingKeys,
    maintenance: createMaintenanceService(deps, signingKeys, sinkDelivery),
    revocations: createRevocationService(deps, brokers),
    adminKeys: createAdminKeyService(deps),
    identitySources: createIdentitySourceService(deps, brokers),
    revocationSinks: createRevocationSinkService(deps, brokers, sinkDelivery),
    tokenExchange: createTokenExchangeService(deps, brokers, createCredentialSigner(deps, keyring)),
    audit: createAuditService(deps),
    /** The broker webhooks' verifiers (src/http/routes/hooks.ts). */
    brokerVerifiers,
    /** Delivery to revocation sinks, run when the runtime says (src/runtime/). */
    sinkDelivery,
  };
}

export type Services = ReturnType<typeof createServices>;
export type { Actor } from './access.js';
