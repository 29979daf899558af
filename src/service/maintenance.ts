// The scheduled job: signing-key rotation, removal of retired keys, delivery to revocation sinks, pruning
// after tokens expire, and the audit trail's retention.
import { SCHEDULER_ACTOR } from '../core/audit.js';
import { toEpochSeconds } from '../core/clock.js';
import { retiredKeyRemoveAfter, shorterLimit } from '../core/expiration.js';
import type { RotationCandidate } from '../store/port.js';
import { type Actor, requireGlobal } from './access.js';
import { brokerEvent } from './audit.js';
import type { ServiceDeps } from './deps.js';
import { newSigningKeyRecord } from './keyring.js';
import type { SinkDelivery } from './sink-delivery.js';

/** How long a retired key stays published for tokens without `exp`, unless configured otherwise. */
export const DEFAULT_KEY_OVERLAP_SECONDS = 7 * 24 * 3600;

/**
 * Verifiers accept a token a little past its `exp` (their clock tolerance, 5 seconds by default): keys are
 * removed, and revocations pruned, only this long after the last token could still pass.
 */
export const EXPIRY_GRACE_SECONDS = 60;

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

export function createMaintenanceService(deps: ServiceDeps, sinks: SinkDelivery) {
  const {
    store,
    keyEncryptionKey,
    clock,
    log,
    brokerChanges,
    keyOverlapSeconds = DEFAULT_KEY_OVERLAP_SECONDS,
    auditRetentionDays = 0,
  } = deps;

  async function rotate(
    { broker, currentKey, namespaceName }: RotationCandidate,
    now: number,
    actor: string,
  ): Promise<boolean> {
    const usage = await store.findKeyUsage(broker.id, currentKey.kid);
    const removeAfter = retiredKeyRemoveAfter({
      retiredAt: now,
      latestExpiry: usage.latestExpiry,
      signedWithoutExpiry: usage.withoutExpiry > 0,
      brokerLifetime: shorterLimit(broker.expiration, broker.maxLifetime),
      overlapSeconds: keyOverlapSeconds,
      graceSeconds: EXPIRY_GRACE_SECONDS,
    });
    const next = await newSigningKeyRecord(keyEncryptionKey, broker.id, currentKey.algorithm, now);
    return store.rotateSigningKey(
      { brokerId: broker.id, kid: currentKey.kid, retiredAt: now, removeAfter },
      next,
      brokerEvent(
        'signing_key.rotate',
        actor,
        now,
        { namespace: { id: broker.namespaceId, name: namespaceName }, broker },
        { retired_kid: currentKey.kid, kid: next.kid, remove_after: removeAfter },
      ),
    );
  }

  async function rotateDueKeys(now: number, actor: string): Promise<number> {
    let rotated = 0;
    let afterId = '';
    for (;;) {
      const due = await store.listBrokersDueForRotation(now, afterId, ROTATION_PAGE);
      for (const candidate of due) {
        try {
          if (await rotate(candidate, now, actor)) {
            rotated++;
            brokerChanges?.brokerChanged(candidate.broker.id);
          }
        } catch (error) {
          // One broker's failure must not hold back the others; the next run tries it again.
          log?.({
            level: 'error',
            msg: 'key rotation failed',
            broker: candidate.broker.id,
            error: String(error),
          });
        }
      }
      if (due.length < ROTATION_PAGE) return rotated;
      afterId = due.at(-1)!.broker.id;
    }
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
