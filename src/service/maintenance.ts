// The scheduled job: signing-key rotation (and next keys published ahead), removal of retired keys, delivery
// to revocation sinks, pruning after tokens expire, and the audit trail's retention.
import { SCHEDULER_ACTOR } from '../core/audit.js';
import { toEpochSeconds } from '../core/clock.js';
import { EXPIRY_GRACE_SECONDS } from '../core/expiration.js';
import { KEY_PREPUBLICATION_SECONDS } from '../core/signing-keys.js';
import { type Actor, requireGlobal } from './access.js';
import type { ServiceDeps } from './deps.js';
import type { SigningKeyService } from './signing-keys.js';
import type { SinkDelivery } from './sink-delivery.js';

const ROTATION_PAGE = 100;

/**
 * Audit events deleted a statement: a first run over years of trail deletes it in many short statements, so
 * neither SQLite's writers nor D1's per-statement limits wait on one long delete.
 */
const AUDIT_PRUNE_CHUNK = 1000;
const DAY_MS = 24 * 3600 * 1000;

export interface MaintenanceCounts {
  keysRotated: number;
  keysRemoved: number;
  revocationsPruned: number;
  credentialsPruned: number;
  eventsPruned: number;
  auditEventsPruned: number;
  /** Changes delivered to revocation sinks, and sinks whose delivery failed (they are retried with backoff). */
  sinkChangesDelivered: number;
  sinksFailed: number;
}

export function createMaintenanceService(
  deps: ServiceDeps,
  signingKeys: SigningKeyService,
  sinks: SinkDelivery,
) {
  const { store, clock, log, brokerChanges, auditRetentionDays = 0 } = deps;

  /** One broker's failure must not hold back the others; the next run tries it again. */
  async function eachBroker<T extends { broker: { id: string } }>(
    what: string,
    page: (afterId: string) => Promise<T[]>,
    step: (candidate: T) => Promise<boolean>,
  ): Promise<number> {
    let done = 0;
    let afterId = '';
    for (;;) {
      const candidates = await page(afterId);
      for (const candidate of candidates) {
        try {
          if (await step(candidate)) done++;
        } catch (error) {
          log?.({ level: 'error', msg: `${what} failed`, broker: candidate.broker.id, error: String(error) });
        }
      }
      if (candidates.length < ROTATION_PAGE) return done;
      afterId = candidates.at(-1)!.broker.id;
    }
  }

  /**
   * Rotates the brokers whose current key is `key_rotation_period` old, promoting only a next key published
   * long enough ago that every verifier's cached key set holds it; a broker whose next key is younger
   * (just published, or replaced after a revocation) rotates at a later run.
   */
  function rotateDueKeys(now: number, actor: string): Promise<number> {
    const publishedBy = now - KEY_PREPUBLICATION_SECONDS * 1000;
    return eachBroker(
      'key rotation',
      (afterId) => store.listBrokersDueForRotation(now, publishedBy, afterId, ROTATION_PAGE),
      ({ broker, currentKey, nextKey, namespaceName }) =>
        signingKeys.promote(
          { namespace: { id: broker.namespaceId, name: namespaceName }, broker },
          currentKey,
          nextKey,
          { now, actor, revoke: false },
        ),
    );
  }

  /** Brokers created before keys were published ahead get their next key, to be promoted a run later. */
  function publishMissingNextKeys(now: number, actor: string): Promise<number> {
    return eachBroker(
      'publishing a next key',
      (afterId) => store.listBrokersWithoutNextKey(afterId, ROTATION_PAGE),
      async ({ broker, namespaceName }) =>
        (await signingKeys.publishNext(
          { namespace: { id: broker.namespaceId, name: namespaceName }, broker },
          now,
          actor,
        )) !== undefined,
    );
  }

  /** Deletes audit events older than the retention, chunk by chunk, until none is left. */
  async function pruneAuditEvents(now: number): Promise<number> {
    if (auditRetentionDays === 0) return 0;
    const before = now - auditRetentionDays * DAY_MS;
    let pruned = 0;
    for (;;) {
      const deleted = await store.deleteAuditEventsBefore(before, AUDIT_PRUNE_CHUNK);
      pruned += deleted;
      if (deleted < AUDIT_PRUNE_CHUNK) return pruned;
    }
  }

  /**
   * Runs every maintenance step for the moment `now` (epoch ms). Idempotent: a second run at the same `now`
   * changes nothing, so overlapping schedulers (a Node timer and `npm run cron`) are harmless. `actor` is who
   * the audit trail names for rotations: the admin key of `run`, else the scheduler.
   */
  async function runScheduledJob({
    now,
    actor = SCHEDULER_ACTOR,
  }: {
    now: number;
    actor?: string;
  }): Promise<MaintenanceCounts> {
    const started = performance.now();
    const keysRotated = await rotateDueKeys(now, actor);
    await publishMissingNextKeys(now, actor);
    const removedFrom = await store.deleteRemovableSigningKeys(now);
    for (const brokerId of new Set(removedFrom)) brokerChanges?.brokerChanged(brokerId);
    const keysRemoved = removedFrom.length;
    // Before pruning: a sink that lags gets the changes while they are still in the log.
    const delivery = await sinks.deliver();
    const expiredBefore = toEpochSeconds(now) - EXPIRY_GRACE_SECONDS;
    const eventsPruned = await store.deleteExpiredRevocationEvents(expiredBefore);
    const revocationsPruned = await store.deleteExpiredRevocations(expiredBefore);
    const credentialsPruned = await store.deleteExpiredCredentials(expiredBefore);
    const auditEventsPruned = await pruneAuditEvents(now);
    const counts = {
      keysRotated,
      keysRemoved,
      revocationsPruned,
      credentialsPruned,
      eventsPruned,
      auditEventsPruned,
      sinkChangesDelivered: delivery.delivered,
      sinksFailed: delivery.failed,
    };
    log?.({
      level: 'info',
      msg: 'scheduled job',
      ...counts,
      duration_ms: Math.round((performance.now() - started) * 100) / 100,
    });
    return counts;
  }

  return {
    runScheduledJob,
    /** The job on demand, for operators: a global read-write admin key. */
    async run(actor: Actor): Promise<MaintenanceCounts> {
      requireGlobal(actor, 'write');
      return runScheduledJob({ now: clock(), actor: actor.keyId });
    },
  };
}

export type MaintenanceService = ReturnType<typeof createMaintenanceService>;
