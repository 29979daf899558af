// All use cases, wired from one set of dependencies.
import { createAdminKeyService } from './admin-keys.js';
import { createAuditService } from './audit.js';
import { createBrokerVerifiers } from './broker-verifiers.js';
import { createBrokerService } from './brokers.js';
import { createCredentialService, createCredentialSigner } from './credentials.js';
import type { ServiceDeps } from './deps.js';
import { createIdentitySourceService } from './identity-sources.js';
import { createKeyring } from './keyring.js';
import { createMaintenanceService } from './maintenance.js';
import { createNamespaceService } from './namespaces.js';
import { createRefreshService } from './refresh.js';
import { createRevocationService } from './revocations.js';
import { createSigningKeyService } from './signing-keys.js';
import { createTokenExchangeService } from './token-exchange.js';

export function createServices(serviceDeps: ServiceDeps) {
  const brokerVerifiers = createBrokerVerifiers(serviceDeps);
  // Every broker, key and revocation change made through these services reaches the webhooks at once.
  const deps: ServiceDeps = { ...serviceDeps, brokerChanges: brokerVerifiers.listener };
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
    maintenance: createMaintenanceService(deps, signingKeys),
    revocations: createRevocationService(deps, brokers),
    adminKeys: createAdminKeyService(deps),
    identitySources: createIdentitySourceService(deps, brokers),
    tokenExchange: createTokenExchangeService(deps, brokers, createCredentialSigner(deps, keyring)),
    audit: createAuditService(deps),
    /** The broker webhooks' verifiers (src/http/routes/hooks.ts). */
    brokerVerifiers,
  };
}

export type Services = ReturnType<typeof createServices>;
export type { Actor } from './access.js';
