// The audit trail: events built where the actions happen (and written with them), read back per tenant.
import type { AuditAction, AuditEvent, AuditEventRecord, AuditFilter } from '../core/audit.js';
import type { BrokerRecord, NamespaceRecord } from '../store/port.js';
import { type Actor, requirePermission } from './access.js';
import type { ServiceDeps } from './deps.js';
import { mapPage, type PageRequest, type PageResult, toStorePage } from './paging.js';

/** An event about one broker, its namespace named for readers (the trail outlives deletions). */
export function brokerEvent(
  action: AuditAction,
  actor: string,
  at: number,
  target: { namespace: Pick<NamespaceRecord, 'id' | 'name'>; broker: Pick<BrokerRecord, 'id' | 'name'> },
  details: Record<string, unknown>,
): AuditEventRecord {
  return {
    at,
    action,
    actor,
    namespaceId: target.namespace.id,
    namespace: target.namespace.name,
    brokerId: target.broker.id,
    broker: target.broker.name,
    details,
  };
}

/** An event about a namespace (or, with `namespace: null`, above every namespace). */
export function namespaceEvent(
  action: AuditAction,
  actor: string,
  at: number,
  namespace: Pick<NamespaceRecord, 'id' | 'name'> | null,
  details: Record<string, unknown>,
): AuditEventRecord {
  return {
    at,
    action,
    actor,
    namespaceId: namespace?.id ?? null,
    namespace: namespace?.name ?? null,
    brokerId: null,
    broker: null,
    details,
  };
}

/** `keyRotationPeriod` -> `key_rotation_period`: details use the API's field names. */
export function withWireNames(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(fields).map(([key, value]) => [
      key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
      value,
    ]),
  );
}

/**
 * The fields whose value differs between two views of a setting (by their JSON), each as `{ old, new }`:
 * what an update changed, for its audit event. Both views must leave secrets out.
 */
export function changedFields(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): Record<string, { old: unknown; new: unknown }> {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return Object.fromEntries(
    [...keys]
      .filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]))
      .map((key) => [key, { old: before[key] ?? null, new: after[key] ?? null }]),
  );
}

export type AuditQuery = Omit<AuditFilter, 'namespaceId'>;

export function createAuditService({ store }: ServiceDeps) {
  return {
    /**
     * Needs `read`; a key scoped to one namespace sees that namespace's events only, whatever it asks for,
     * so the trail never tells it about other tenants.
     */
    async list(actor: Actor, query: AuditQuery, page: PageRequest): Promise<PageResult<AuditEvent>> {
      requirePermission(actor, 'read');
      const filter: AuditFilter =
        actor.namespaceId === null ? query : { ...query, namespaceId: actor.namespaceId };
      return mapPage(page, await store.listAuditEvents(filter, toStorePage(page)), (event) => event);
    },
  };
}

export type AuditService = ReturnType<typeof createAuditService>;
