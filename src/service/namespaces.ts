// Namespaces: the tenant boundary that groups brokers.
import { notFound, ServiceError } from '../core/errors.js';
import type { NamespaceRecord } from '../store/port.js';
import { type Actor, accessNamespace, requireGlobal, requirePermission } from './access.js';
import { changedFields, namespaceEvent } from './audit.js';
import type { ServiceDeps } from './deps.js';
import { mapPage, type PageRequest, type PageResult, toStorePage } from './paging.js';

export interface NamespaceInput {
  name: string;
  description?: string;
}

export function createNamespaceService({ store, clock, newId, brokerChanges }: ServiceDeps) {
  return {
    async create(actor: Actor, input: NamespaceInput): Promise<NamespaceRecord> {
      requireGlobal(actor, 'write');
      const now = clock();
      const namespace = {
        id: newId(),
        name: input.name,
        description: input.description ?? '',
        createdAt: now,
        modifiedAt: now,
      };
      const audit = namespaceEvent('namespace.create', actor.keyId, now, namespace, {
        id: namespace.id,
        description: namespace.description,
      });
      if (!(await store.insertNamespace(namespace, audit))) {
        throw new ServiceError('conflict', `a namespace named '${input.name}' already exists`, 'name');
      }
      return namespace;
    },

    async list(actor: Actor, page: PageRequest): Promise<PageResult<NamespaceRecord>> {
      requirePermission(actor, 'read');
      const paged = await store.listNamespaces(toStorePage(page), actor.namespaceId ?? undefined);
      return mapPage(page, paged, (namespace) => namespace);
    },

    get(actor: Actor, name: string): Promise<NamespaceRecord> {
      return accessNamespace(store, actor, name, 'read');
    },

    async update(actor: Actor, name: string, description: string): Promise<NamespaceRecord> {
      const namespace = await accessNamespace(store, actor, name, 'write');
      const now = clock();
      const audit = namespaceEvent('namespace.update', actor.keyId, now, namespace, {
        changes: changedFields({ description: namespace.description }, { description }),
      });
      const updated = await store.updateNamespace(namespace.id, description, now, audit);
      if (!updated) throw notFound('namespace');
      return updated;
    },

    /**
     * Deletes an empty namespace; with `force`, also its brokers (their keys, credential records,
     * revocations and identity sources) and the admin keys scoped to it, which the audit event lists.
     */
    async delete(actor: Actor, name: string, { force }: { force: boolean }): Promise<void> {
      const namespace = await accessNamespace(store, actor, name, 'write');
      requireGlobal(actor, 'write');
      const audit = namespaceEvent('namespace.delete', actor.keyId, clock(), namespace, {
        id: namespace.id,
        force,
      });
      if (!(await store.deleteNamespace(namespace.id, { force, audit }))) {
        const { total } = await store.listBrokers(namespace.id, { offset: 0, limit: 1 });
        throw new ServiceError(
          'conflict',
          `namespace '${name}' still has ${total} broker(s): delete them first, or delete with force=true ` +
            'to delete them, and the admin keys scoped to the namespace, with it',
        );
      }
      brokerChanges?.namespaceDeleted(namespace.id);
    },
  };
}

export type NamespaceService = ReturnType<typeof createNamespaceService>;
