// Admin API keys: bearer secrets stored only as SHA-256 digests, scoped to all namespaces or one.
import { STARTUP_ACTOR } from '../core/audit.js';
import { notFound, ServiceError } from '../core/errors.js';
import { constantTimeEqual, generateAdminSecret, sha256Hex } from '../crypto/secrets.js';
import type { AdminKeyListing, AdminKeyRecord, NamespaceRecord } from '../store/port.js';
import { type Actor, accessNamespace, type Permission, requireGlobal } from './access.js';
import { namespaceEvent } from './audit.js';
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

/** What the trail keeps of a key: never the secret or its hash. */
const auditedKey = (key: AdminKeyRecord) => ({
  key_id: key.id,
  name: key.name,
  permission: key.permission,
  hint: key.hint,
});

export function createAdminKeyService({ store, clock, newId }: ServiceDeps) {
  /** `namespace`: the key's scope, named for the audit trail; `createdBy`: null at start-up. */
  async function insert(
    secret: string,
    fields: Pick<AdminKeyRecord, 'name' | 'permission' | 'createdBy'>,
    namespace: NamespaceRecord | null,
  ): Promise<AdminKeyRecord> {
    const key: AdminKeyRecord = {
      id: newId(),
      secretHash: await sha256Hex(secret),
      hint: secret.slice(-HINT_LENGTH),
      createdAt: clock(),
      namespaceId: namespace?.id ?? null,
      ...fields,
    };
    const actor = key.createdBy ?? STARTUP_ACTOR;
    await store.insertAdminKey(
      key,
      namespaceEvent('admin_key.create', actor, key.createdAt, namespace, auditedKey(key)),
    );
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
      const namespace =
        input.namespace === undefined ? null : await accessNamespace(store, actor, input.namespace, 'write');
      const secret = generateAdminSecret();
      const key = await insert(
        secret,
        { name: input.name, permission: input.permission, createdBy: actor.keyId },
        namespace,
      );
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
      const scope = key.namespaceId === null ? null : { id: key.namespaceId, name: key.namespaceName ?? '' };
      const audit = namespaceEvent('admin_key.delete', actor.keyId, clock(), scope, auditedKey(key));
      if (!(await store.deleteAdminKey(key.id, audit))) {
        throw new ServiceError(
          'conflict',
          'refusing to delete the last read-write admin key for all namespaces',
        );
      }
    },

    /**
     * Makes sure someone can administer the service: registers the configured secret, or, on a database
     * without keys, generates the first one and returns it (the only time it is ever shown).
     */
    async bootstrap(configuredSecret: string | undefined): Promise<{ generatedSecret?: string }> {
      const fields = { name: 'bootstrap', permission: 'write', createdBy: null } as const;
      if (configuredSecret !== undefined) {
        if (!(await store.findAdminKeyByHash(await sha256Hex(configuredSecret)))) {
          await insert(configuredSecret, fields, null);
        }
        return {};
      }
      if ((await store.countAdminKeys()) > 0) return {};
      const generatedSecret = generateAdminSecret();
      await insert(generatedSecret, fields, null);
      return { generatedSecret };
    },
  };
}

export type AdminKeyService = ReturnType<typeof createAdminKeyService>;
