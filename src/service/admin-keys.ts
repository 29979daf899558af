// Admin API keys: bearer secrets stored only as SHA-256 digests, scoped to all namespaces or one.
import { notFound, ServiceError } from '../core/errors.js';
import { constantTimeEqual, generateAdminSecret, sha256Hex } from '../crypto/secrets.js';
import type { AdminKeyListing, AdminKeyRecord } from '../store/port.js';
import { type Actor, accessNamespace, type Permission, requireGlobal } from './access.js';
import type { ServiceDeps } from './deps.js';
import { mapPage, type PageRequest, type PageResult, toStorePage } from './paging.js';

/** Shortest secret accepted from configuration as an admin key. */
export const MIN_CONFIGURED_SECRET_LENGTH = 24;
const HINT_LENGTH = 4;

export interface AdminKeyInput {
  name: string;
  /** Scope the key to this namespace; omitted: every namespace. */
  namespace?: string;
  permission: Permission;
}

export type AdminKeyView = Omit<AdminKeyListing, 'secretHash'>;

function toView({ secretHash: _, ...key }: AdminKeyListing): AdminKeyView {
  return key;
}

export function createAdminKeyService({ store, clock, newId }: ServiceDeps) {
  async function insert(
    secret: string,
    fields: Pick<AdminKeyRecord, 'name' | 'namespaceId' | 'permission' | 'createdBy'>,
  ): Promise<AdminKeyRecord> {
    const key: AdminKeyRecord = {
      id: newId(),
      secretHash: await sha256Hex(secret),
      hint: secret.slice(-HINT_LENGTH),
      createdAt: clock(),
      ...fields,
    };
    await store.insertAdminKey(key);
    return key;
  }

  return {
    /** The caller behind a bearer secret, or undefined. */
    async authenticate(secret: string): Promise<Actor | undefined> {
      const hash = await sha256Hex(secret);
      const key = await store.findAdminKeyByHash(hash);
      if (!key || !constantTimeEqual(key.secretHash, hash)) return undefined;
      return { keyId: key.id, namespaceId: key.namespaceId, permission: key.permission };
    },

    /** The secret is returned here once and never again. */
    async create(actor: Actor, input: AdminKeyInput): Promise<{ key: AdminKeyView; secret: string }> {
      requireGlobal(actor, 'write');
      const namespace = input.namespace && (await accessNamespace(store, actor, input.namespace, 'write'));
      const secret = generateAdminSecret();
      const key = await insert(secret, {
        name: input.name,
        namespaceId: namespace ? namespace.id : null,
        permission: input.permission,
        createdBy: actor.keyId,
      });
      await store.insertAuditEvent({
        at: key.createdAt,
        action: 'admin_key.create',
        actor: actor.keyId,
        namespaceId: key.namespaceId,
        namespace: namespace ? namespace.name : null,
        brokerId: null,
        broker: null,
        details: { key_id: key.id, name: key.name, permission: key.permission, hint: key.hint },
      });
      return { key: toView({ ...key, namespaceName: namespace ? namespace.name : null }), secret };
    },

    async list(actor: Actor, page: PageRequest): Promise<PageResult<AdminKeyView>> {
      requireGlobal(actor, 'read');
      return mapPage(page, await store.listAdminKeys(toStorePage(page)), toView);
    },

    async delete(actor: Actor, id: string): Promise<void> {
      requireGlobal(actor, 'write');
      const key = await store.findAdminKey(id);
      if (!key) throw notFound('admin key');
      if (!(await store.deleteAdminKey(key.id))) {
        throw new ServiceError(
          'conflict',
          'refusing to delete the last read-write admin key for all namespaces',
        );
      }
      await store.insertAuditEvent({
        at: clock(),
        action: 'admin_key.delete',
        actor: actor.keyId,
        namespaceId: key.namespaceId,
        namespace: key.namespaceName,
        brokerId: null,
        broker: null,
        details: { key_id: key.id, name: key.name, permission: key.permission, hint: key.hint },
      });
    },

    /**
     * Makes sure someone can administer the service: registers the configured secret, or, on a database
     * without keys, generates the first one and returns it (the only time it is ever shown).
     */
    async bootstrap(configuredSecret: string | undefined): Promise<{ generatedSecret?: string }> {
      const fields = { name: 'bootstrap', namespaceId: null, permission: 'write', createdBy: null } as const;
      if (configuredSecret !== undefined) {
        if (!(await store.findAdminKeyByHash(await sha256Hex(configuredSecret)))) {
          await insert(configuredSecret, fields);
        }
        return {};
      }
      if ((await store.countAdminKeys()) > 0) return {};
      const generatedSecret = generateAdminSecret();
      await insert(generatedSecret, fields);
      return { generatedSecret };
    },
  };
}

export type AdminKeyService = ReturnType<typeof createAdminKeyService>;
