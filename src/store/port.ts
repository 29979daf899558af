// The storage port: what the services need from a database, in domain terms. One drizzle implementation
// serves better-sqlite3 (Node) and D1 (Workers).
import type { JWK } from 'jose';
import type { SigningAlgorithm, TopicAcl } from '../core/claims.js';

export interface NamespaceRecord {
  id: string;
  name: string;
  description: string;
  createdAt: number;
  modifiedAt: number;
}

export interface BrokerRecord {
  id: string;
  namespaceId: string;
  name: string;
  description: string;
  authType: 'TOKEN';
  expiration: number | null;
  algorithm: SigningAlgorithm;
  defaultTopicAcl: TopicAcl;
  issuer: string;
  audience: string;
  /** Seconds after which the scheduled job replaces the signing key; null: never. */
  keyRotationPeriod: number | null;
  /** Seconds a credential may live from its first issue, across refreshes; null: no such limit. */
  maxLifetime: number | null;
  createdAt: number;
  modifiedAt: number;
}

export type BrokerChanges = Partial<
  Pick<
    BrokerRecord,
    | 'description'
    | 'expiration'
    | 'defaultTopicAcl'
    | 'issuer'
    | 'audience'
    | 'keyRotationPeriod'
    | 'maxLifetime'
  >
> & { modifiedAt: number };

export interface SigningKeyRecord {
  brokerId: string;
  kid: string;
  algorithm: SigningAlgorithm;
  publicJwk: JWK;
  sealedPrivateJwk: string;
  createdAt: number;
  retiredAt: number | null;
  /** When a retired key leaves the JWKS. */
  removeAfter: number | null;
}

export interface IssuedCredentialRecord {
  brokerId: string;
  jti: string;
  clientId: string;
  kid: string;
  issuedAt: number;
  expiresAt: number | null;
  issuedBy: string;
}

export interface RevocationRecord {
  jti: string;
  revokedAt: number;
  /** The revoked token's `exp` (seconds) when known, so the entry can be pruned once the token is dead. */
  expiresAt: number | null;
  revokedBy: string;
}

/** One entry of the revocation feed. */
export interface RevocationEvent {
  seq: number;
  jti: string;
  revoked: boolean;
  expiresAt: number | null;
}

export interface AdminKeyRecord {
  id: string;
  name: string;
  secretHash: string;
  hint: string;
  namespaceId: string | null;
  permission: 'read' | 'write' | 'exchange';
  createdAt: number;
  createdBy: string | null;
}

export interface AdminKeyListing extends AdminKeyRecord {
  namespaceName: string | null;
}

export interface Page {
  offset: number;
  limit: number;
}

export interface Paged<T> {
  items: T[];
  total: number;
}

export interface Store {
  /** Cheap round trip that fails when the database is unusable. */
  ping(): Promise<void>;

  /** Returns false when the name is taken. */
  insertNamespace(namespace: NamespaceRecord): Promise<boolean>;
  findNamespace(name: string): Promise<NamespaceRecord | undefined>;
  /** `only`: restrict to one namespace id (a scoped admin key). */
  listNamespaces(page: Page, only?: string): Promise<Paged<NamespaceRecord>>;
  updateNamespace(id: string, description: string, modifiedAt: number): Promise<NamespaceRecord | undefined>;
  deleteNamespace(id: string): Promise<void>;

  /** Inserts a broker with its first signing key, atomically. Returns false when the name is taken. */
  insertBroker(broker: BrokerRecord, key: SigningKeyRecord): Promise<boolean>;
  findBroker(namespaceId: string, name: string): Promise<BrokerRecord | undefined>;
  listBrokers(namespaceId: string, page: Page): Promise<Paged<BrokerRecord>>;
  updateBroker(id: string, changes: BrokerChanges): Promise<BrokerRecord | undefined>;
  deleteBroker(id: string): Promise<void>;

  /** Newest first; the first key without `retiredAt` signs. */
  listSigningKeys(brokerId: string): Promise<SigningKeyRecord[]>;

  /** All or nothing, whatever the batch size. */
  insertIssuedCredentials(records: IssuedCredentialRecord[]): Promise<void>;
  /** The `exp` of issued credentials by jti, for the given broker (to keep with their revocations). */
  findCredentialExpiries(brokerId: string, jtis: string[]): Promise<Map<string, number | null>>;

  /**
   * Idempotent: an already revoked jti keeps its first record. Appends to the revocation feed.
   * All or nothing.
   */
  insertRevocations(brokerId: string, revocations: RevocationRecord[]): Promise<void>;
  /** Un-revokes (unknown jtis are fine) and appends to the revocation feed. All or nothing. */
  deleteRevocations(brokerId: string, jtis: string[], at: number): Promise<void>;
  listRevocations(brokerId: string, page: Page): Promise<Paged<RevocationRecord>>;
  /** Revokes and un-revokes after `afterSeq`, oldest first. */
  listRevocationEvents(brokerId: string, afterSeq: number, limit: number): Promise<RevocationEvent[]>;

  insertAdminKey(key: AdminKeyRecord): Promise<void>;
  findAdminKeyByHash(secretHash: string): Promise<AdminKeyRecord | undefined>;
  findAdminKey(id: string): Promise<AdminKeyListing | undefined>;
  listAdminKeys(page: Page): Promise<Paged<AdminKeyListing>>;
  /**
   * Deletes the key unless it is the last read-write key for all namespaces (that would lock every operator
   * out), in one statement so that two concurrent deletes cannot both pass the check. Returns false when
   * it refused.
   */
  deleteAdminKey(id: string): Promise<boolean>;
  countAdminKeys(): Promise<number>;
}
