// The revocation list: idempotent revoke and un-revoke by jti (known jtis only, descendants with them), and
// listing with the token expiries kept.
import { ServiceError } from '../core/errors.js';
import type { RevocationEvent, RevocationRecord } from '../store/port.js';
import type { Actor } from './access.js';
import { brokerEvent } from './audit.js';
import type { BrokerService } from './brokers.js';
import type { ServiceDeps } from './deps.js';
import { mapPage, type PageRequest, type PageResult, toStorePage } from './paging.js';

export const MAX_REVOCATIONS_PER_CALL = 100;
export const MAX_FEED_CHANGES = 1000;
/** Default for GATEPASS_MAX_REVOCATIONS_PER_BROKER: far above real use, far below a full disk. */
export const DEFAULT_MAX_REVOCATIONS_PER_BROKER = 1_000_000;

export interface RevocationFeedPage {
  changes: RevocationEvent[];
  /** Pass back as `since` to get what changed after this page. */
  cursor: number;
  /** More changes are waiting: ask again at once. */
  more: boolean;
}

export function createRevocationService(
  { store, clock, brokerChanges, maxRevocationsPerBroker = DEFAULT_MAX_REVOCATIONS_PER_BROKER }: ServiceDeps,
  brokers: BrokerService,
) {
  /**
   * Refuses a revoke whose named jtis would take the list past the cap. Checked before the write, so
   * concurrent revokes of one broker can each pass it once: the list may end up over the cap by at most their
   * batches. The credentials refreshed from the named ones are not counted: a revocation the cap lets through
   * is never partial, since a refreshed copy of a revoked credential must not stay valid, and descendants
   * only exist through refreshes, which are rate-limited.
   */
  async function checkCapacity(brokerId: string, jtis: string[]): Promise<void> {
    const held = await store.countRevocations(brokerId);
    if (held + jtis.length <= maxRevocationsPerBroker) return;
    // Near the cap: jtis revoked already take no room (revoking is idempotent).
    let added = 0;
    for (const jti of jtis) if (!(await store.isRevoked(brokerId, jti))) added++;
    if (held + added <= maxRevocationsPerBroker) return;
    throw new ServiceError(
      'revocation_limit',
      `this broker's revocation list holds ${held} of at most ${maxRevocationsPerBroker} jtis; ` +
        'un-revoke some, or wait for revocations of expired credentials to be pruned',
      'jti',
    );
  }

  /**
   * Refuses the whole call, by name, when a jti is neither recorded as issued by this broker nor revoked:
   * a typo must not look like success. Expired credentials lose their record to the scheduled job, so they
   * are refused too (they need no revocation; revoking their chain's first credential still reaches what
   * was refreshed from them, see docs/storage-schema.md).
   */
  async function requireKnown(brokerId: string, jtis: string[]): Promise<void> {
    const unknown = await store.findUnknownJtis(brokerId, jtis);
    if (unknown.length === 0) return;
    const what =
      unknown.length === 1
        ? 'this jti was not issued by this broker, or its credential expired and was pruned'
        : 'these jtis were not issued by this broker, or their credentials expired and were pruned';
    throw new ServiceError('not_found', `${what}: ${unknown.join(', ')}; nothing was changed`, 'jti');
  }

  return {
    /**
     * Revokes by name, and with them every credential refreshed from them (in the store's transaction). All
     * or nothing: one unknown jti refuses the call. Returns the named jtis.
     */
    async revoke(actor: Actor, namespaceName: string, brokerName: string, jtis: string[]): Promise<string[]> {
      const { namespace, broker } = await brokers.access(actor, namespaceName, brokerName, 'write');
      const unique = [...new Set(jtis)];
      await requireKnown(broker.id, unique);
      await checkCapacity(broker.id, unique);
      const expiries = await store.findCredentialExpiries(broker.id, unique);
      const revokedAt = clock();
      await store.insertRevocations(
        broker.id,
        unique.map(
          (jti): Omit<RevocationRecord, 'descendantOf'> => ({
            jti,
            revokedAt,
            expiresAt: expiries.get(jti) ?? null,
            revokedBy: actor.keyId,
          }),
        ),
        brokerEvent('revocations.revoke', actor.keyId, revokedAt, { namespace, broker }, { jtis: unique }),
      );
      brokerChanges?.revocationsChanged(broker.id);
      return unique;
    },

    /**
     * Un-revokes by name, and with them what was revoked because they were (their descendants revoked with
     * them); descendants revoked by name or by a refresh stay revoked. Un-revoking a known jti that is not
     * revoked succeeds; an unknown one refuses the call, as for revoke.
     */
    async unrevoke(
      actor: Actor,
      namespaceName: string,
      brokerName: string,
      jtis: string[],
    ): Promise<string[]> {
      const { namespace, broker } = await brokers.access(actor, namespaceName, brokerName, 'write');
      const unique = [...new Set(jtis)];
      await requireKnown(broker.id, unique);
      const at = clock();
      await store.deleteRevocations(
        broker.id,
        unique,
        at,
        brokerEvent('revocations.unrevoke', actor.keyId, at, { namespace, broker }, { jtis: unique }),
      );
      brokerChanges?.revocationsChanged(broker.id);
      return unique;
    },

    /** What changed after `since` (0: from the beginning), so a verifier pulls only the difference. */
    async changes(
      actor: Actor,
      namespaceName: string,
      brokerName: string,
      since: number,
      limit = MAX_FEED_CHANGES,
    ): Promise<RevocationFeedPage> {
      const { broker } = await brokers.access(actor, namespaceName, brokerName, 'read');
      const changes = await store.listRevocationEvents(broker.id, since, limit + 1);
      const more = changes.length > limit;
      const page = more ? changes.slice(0, limit) : changes;
      return { changes: page, cursor: page.at(-1)?.seq ?? since, more };
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
