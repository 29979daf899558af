// Namespaces: the tenant boundary that groups brokers.
import { ServiceError } from '../core/errors.js';
import type { NamespaceRecord } from '../store/port.js';
import { type Actor, accessNamespace, requireGlobal, requirePermission } from './access.js';
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
      if (!(await store.insertNamespace(namespace))) {
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
      return (await store.updateNamespace(namespace.id, description, clock())) ?? namespace;
    },

    /** Deletes the namespace with its brokers, keys, credentials records and revocations. */
    async delete(actor: Actor, name: string): Promise<void> {
      const namespace = await accessNamespace(store, actor, name, 'write');
      requireGlobal(actor, 'write');
      await store.deleteNamespace(namespace.id);
      brokerChanges?.namespaceDeleted(namespace.id);
    },
  };
}

export type NamespaceService = ReturnType<typeof createNamespaceService>;
