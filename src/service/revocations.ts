// The revocation list: idempotent revoke and un-revoke by jti, listing with the token expiries kept.
import type { RevocationRecord } from '../store/port.js';
import type { Actor } from './access.js';
import type { BrokerService } from './brokers.js';
import type { ServiceDeps } from './deps.js';
import { mapPage, type PageRequest, type PageResult, toStorePage } from './paging.js';

export const MAX_REVOCATIONS_PER_CALL = 100;

export function createRevocationService({ store, clock }: ServiceDeps, brokers: BrokerService) {
  return {
    /** Unknown jtis are accepted: a token may be revoked before anyone has seen it. */
    async revoke(actor: Actor, namespaceName: string, brokerName: string, jtis: string[]): Promise<string[]> {
      const { broker } = await brokers.access(actor, namespaceName, brokerName, 'write');
      const unique = [...new Set(jtis)];
      const expiries = await store.findCredentialExpiries(broker.id, unique);
      const revokedAt = clock();
      await store.insertRevocations(
        broker.id,
        unique.map(
          (jti): RevocationRecord => ({
            jti,
            revokedAt,
            expiresAt: expiries.get(jti) ?? null,
            revokedBy: actor.keyId,
          }),
        ),
      );
      return unique;
    },

    async unrevoke(
      actor: Actor,
      namespaceName: string,
      brokerName: string,
      jtis: string[],
    ): Promise<string[]> {
      const { broker } = await brokers.access(actor, namespaceName, brokerName, 'write');
      const unique = [...new Set(jtis)];
      await store.deleteRevocations(broker.id, unique, clock());
      return unique;
    },

    async list(
      actor: Actor,
      namespaceName: string,
      brokerName: string,
      page: PageRequest,
    ): Promise<PageResult<RevocationRecord>> {
      const { broker } = await brokers.access(actor, namespaceName, brokerName, 'read');
      return mapPage(page, await store.listRevocations(broker.id, toStorePage(page)), (record) => record);
    },
  };
}

export type RevocationService = ReturnType<typeof createRevocationService>;
