// Tenancy: which admin key may see and change what. A key scoped to another namespace gets "not found",
// exactly as if the resource did not exist, so keys cannot probe for other tenants' names.
import { notFound, ServiceError } from '../core/errors.js';
import type { NamespaceRecord, Store } from '../store/port.js';

/** read: look; write: everything in scope; exchange: only trade identities for credentials. */
export type Permission = 'read' | 'write' | 'exchange';

const granted: Record<Permission, readonly Permission[]> = {
  read: ['read', 'write'],
  write: ['write'],
  exchange: ['exchange', 'write'],
};

/** The authenticated caller: an admin key. */
export interface Actor {
  keyId: string;
  /** null: every namespace. */
  namespaceId: string | null;
  permission: Permission;
}

export function requirePermission(actor: Actor, needed: Permission): void {
  if (!granted[needed].includes(actor.permission)) {
    throw new ServiceError(
      'forbidden',
      `this admin key has ${actor.permission} permission; ${needed} is needed`,
    );
  }
}

/** For operations above any one namespace: creating namespaces, managing admin keys. */
export function requireGlobal(actor: Actor, needed: Permission): void {
  if (actor.namespaceId !== null) {
    throw new ServiceError('forbidden', 'this admin key is scoped to one namespace');
  }
  requirePermission(actor, needed);
}

export async function accessNamespace(
  store: Store,
  actor: Actor,
  name: string,
  needed: Permission,
): Promise<NamespaceRecord> {
  const namespace = await store.findNamespace(name);
  if (!namespace || (actor.namespaceId !== null && actor.namespaceId !== namespace.id)) {
    throw notFound('namespace');
  }
  requirePermission(actor, needed);
  return namespace;
}
