// The storage port: what the services need from a database, in domain terms. One drizzle implementation
// serves better-sqlite3 (Node) and D1 (Workers).
import type { JWK } from 'jose';
import type { AclTemplate } from '../core/acl-template.js';
import type { AuditAction, AuditEvent, AuditEventRecord, AuditFilter } from '../core/audit.js';
import type { ClaimProfile } from '../core/claim-profiles.js';
import type { SigningAlgorithm, TopicAcl } from '../core/claims.js';
import type { JsonScalar } from '../core/json.js';
import type { KickSinkKind, WebhookEventType } from '../core/sinks.js';

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
  /** The longest client id issued for this broker, caller-chosen or templated by a token exchange. */
  maxClientIdLength: number;
  /** Which extra claims its credentials carry for the broker's own JWT authenticator. */
  claimProfile: ClaimProfile;
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
    | 'maxClientIdLength'
    | 'claimProfile'
  >
> & { modifiedAt: number };

export interface SigningKeyRecord {
  brokerId: string;
  kid: string;
  algorithm: SigningAlgorithm;
  publicJwk: JWK;
  /** Empty once the key is revoked: a compromised key's private half is not kept. */
  sealedPrivateJwk: string;
  /** When it was published; epoch ms, as every time here. */
  createdAt: number;
  /** When it began signing; null for the next key (see core/signing-keys.ts for the states). */
  activatedAt: number | null;
  retiredAt: number | null;
  /** When a retired or revoked key's record goes (a retired key leaves the JWKS then). */
  removeAfter: number | null;
  revokedAt: number | null;
}

export interface IssuedCredentialRecord {
  brokerId: string;
  jti: string;
  clientId: string;
  kid: string;
  issuedAt: number;
  expiresAt: number | null;
  issuedBy: string;
  /** A refreshed credential: the jti it was refreshed from. */
  parentJti: string | null;
}

export interface RevocationRecord {
  jti: string;
  revokedAt: number;
  /** The revoked token's `exp` (seconds) when known, so the entry can be pruned once the token is dead. */
  expiresAt: number | null;
  revokedBy: string;
  /** Revoked because this jti (revoked by name) was: it was refreshed from it. Null: revoked by name. */
  descendantOf: string | null;
}

/** One entry of the revocation feed. */
export interface RevocationEvent {
  seq: number;
  jti: string;
  revoked: boolean;
  expiresAt: number | null;
}

/** A broker due for key rotation, with the key that signs for it now and the one published to follow it. */
export interface RotationCandidate {
  broker: BrokerRecord;
  currentKey: SigningKeyRecord;
  nextKey: SigningKeyRecord;
  /** For the audit trail. */
  namespaceName: string;
}

/** A broker without a next key (one created before keys were published ahead), for the scheduled job. */
export interface NextKeyCandidate {
  broker: BrokerRecord;
  namespaceName: string;
}

/**
 * A rotation, applied atomically by {@link Store.rotateSigningKey}: the current key retires (and is revoked,
 * when it is compromised), the next key becomes current, and `next` is published as the new next key.
 */
export interface KeyRotation {
  brokerId: string;
  retiring: { kid: string; retiredAt: number; removeAfter: number; revokedAt: number | null };
  promoting: { kid: string; activatedAt: number };
  next: SigningKeyRecord;
}

/**
 * A key revoked without a rotation: the next key (replaced by `replacement`, the new next key) or a retired
 * one (no replacement).
 */
export interface KeyRevocation {
  brokerId: string;
  kid: string;
  revokedAt: number;
  removeAfter: number;
  replacement: SigningKeyRecord | null;
}

/** What a signing key signed, as far as the issued-credential records tell. */
export interface KeyUsage {
  /** The latest `exp` (epoch seconds) among its credentials; null when none has one. */
  latestExpiry: number | null;
  /** How many of its credentials have no `exp`. */
  withoutExpiry: number;
}

/** A JWT issuer a broker trusts for token exchange: keys from a JWKS URL, or a shared HMAC secret. */
export interface JwtSourceSettings {
  issuer: string;
  audience: string | string[];
  algorithms: string[];
  /** Seconds. */
  clockTolerance: number;
  /** Null with an HMAC secret. */
  jwksUrl: string | null;
  /** The HMAC secret, sealed under the key-encryption key; null with a JWKS URL. */
  sealedSecret: string | null;
}

/** A webhook that vouches for MQTT-style credentials (username, password, client id, peer host). */
export interface WebhookSourceSettings {
  url: string;
  /** The request body: a JSON template with `${username}`-style placeholders in its string values. */
  body: unknown;
  /** Names of the headers sent (lowercase); their values are only in `sealedHeaders`. */
  headerNames: string[];
  /** The headers as a JSON object, sealed under the key-encryption key; null without headers. */
  sealedHeaders: string | null;
  timeoutMs: number;
  principalPath: string;
  attributesPath: string;
  /**
   * Where the answer says whether it vouches: the value there must be one of `successValues`. Null: at
   * `$.result`, when the answer has a `result`. Both are absent from sources saved before success rules
   * existed, which follow the default rule (see `webhookSuccessRule`).
   */
  successPath?: string | null;
  successValues?: JsonScalar[];
}

interface IdentitySourceFields {
  id: string;
  brokerId: string;
  name: string;
  aclTemplate: AclTemplate;
  createdAt: number;
  modifiedAt: number;
}

export type IdentitySourceRecord = IdentitySourceFields &
  ({ kind: 'jwt'; settings: JwtSourceSettings } | { kind: 'webhook'; settings: WebhookSourceSettings });

export interface IdentitySourceChanges {
  settings?: JwtSourceSettings | WebhookSourceSettings;
  aclTemplate?: AclTemplate;
  modifiedAt: number;
}

/** How a `rabbitmq` or `emqx` sink reaches the broker's management API. */
export interface KickSinkSettings {
  /** The management API's base URL; the API paths are appended to its path. */
  url: string;
  /** The RabbitMQ management user, or the EMQX API key. */
  username: string;
  /** The password or API secret, sealed under the key-encryption key. */
  sealedSecret: string;
  /** Its last characters, to tell secrets apart in views. */
  secretHint: string;
  timeoutMs: number;
}

export interface WebhookSinkSettings {
  url: string;
  /** The `whsec_` secret, sealed under the key-encryption key. */
  sealedSecret: string;
  secretHint: string;
  timeoutMs: number;
  /** The event types delivered. */
  events: WebhookEventType[];
}

export type RevocationSinkConfig =
  | { kind: KickSinkKind; settings: KickSinkSettings }
  | { kind: 'webhook'; settings: WebhookSinkSettings };

/** Where a sink stands in its log, and how its last attempts went. */
export interface SinkDeliveryState {
  /** The `seq` of the last change delivered (revocation_events for rabbitmq and emqx, audit_events for webhooks). */
  cursor: number;
  /** Failed attempts in a row; 0 once one succeeds. */
  attempts: number;
  /** Epoch ms, as the other times: no attempt before; null: at once. */
  nextAttemptAt: number | null;
  failingSince: number | null;
  lastError: string | null;
  lastDeliveredAt: number | null;
}

export type RevocationSinkRecord = {
  id: string;
  brokerId: string;
  name: string;
  createdAt: number;
  modifiedAt: number;
} & RevocationSinkConfig &
  SinkDeliveryState;

/** A sink to insert: its cursor is set by the insert itself, at the end of its log. */
export type NewRevocationSink = Omit<RevocationSinkRecord, keyof SinkDeliveryState>;

/**
 * One change of a broker's revocation list as the disconnecting sinks read it: what it names, and so whose
 * sessions it ends. A union on `kind`, for the kinds of revocation to come (by client id, issued before a
 * time), each with what it names.
 */
export type RevocationChange = { seq: number; revoked: boolean } & {
  kind: 'jti';
  jti: string;
  /** The revoked credential's client, from its issued-credential record; null when there is none (pruned). */
  clientId: string | null;
};

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

  // Configuration changes write their audit event in the same transaction, and only when the change happens.

  /** Returns false when the name is taken. */
  insertNamespace(namespace: NamespaceRecord, audit: AuditEventRecord): Promise<boolean>;
  findNamespace(name: string): Promise<NamespaceRecord | undefined>;
  /** `only`: restrict to one namespace id (a scoped admin key). */
  listNamespaces(page: Page, only?: string): Promise<Paged<NamespaceRecord>>;
  updateNamespace(
    id: string,
    description: string,
    modifiedAt: number,
    audit: AuditEventRecord,
  ): Promise<NamespaceRecord | undefined>;
  /**
   * Deletes the namespace, and with `force` its brokers (their keys, records, revocations and identity
   * sources) and the admin keys scoped to it. Without `force`, writes nothing and returns false while the
   * namespace has brokers (checked in the same statement as the delete). The audit event's details gain
   * `brokers` and `admin_keys`: the names and ids the cascade removed.
   */
  deleteNamespace(id: string, options: { force: boolean; audit: AuditEventRecord }): Promise<boolean>;

  /**
   * Inserts a broker with its first signing keys (the current and the next one) and `audit`, atomically.
   * Returns false when the name is taken.
   */
  insertBroker(broker: BrokerRecord, keys: SigningKeyRecord[], audit: AuditEventRecord): Promise<boolean>;
  findBroker(namespaceId: string, name: string): Promise<BrokerRecord | undefined>;
  listBrokers(namespaceId: string, page: Page): Promise<Paged<BrokerRecord>>;
  updateBroker(
    id: string,
    changes: BrokerChanges,
    audit: AuditEventRecord,
  ): Promise<BrokerRecord | undefined>;
  deleteBroker(id: string, audit: AuditEventRecord): Promise<void>;

  /** The published keys (next, current, retired: every key but revoked ones), newest first. */
  listSigningKeys(brokerId: string): Promise<SigningKeyRecord[]>;
  /** Every key on record, revoked ones included, newest first: for operators. */
  listAllSigningKeys(brokerId: string): Promise<SigningKeyRecord[]>;
  /**
   * Brokers with a `keyRotationPeriod` whose current key began signing at least that long before `now`
   * (epoch ms) and whose next key was published at or before `publishedBy`, by id, after `afterId` (a
   * cursor; '' to start).
   */
  listBrokersDueForRotation(
    now: number,
    publishedBy: number,
    afterId: string,
    limit: number,
  ): Promise<RotationCandidate[]>;
  /** Brokers that have no next key, by id, after `afterId` (a cursor; '' to start). */
  listBrokersWithoutNextKey(afterId: string, limit: number): Promise<NextKeyCandidate[]>;
  /** What the issued-credential records say about the credentials a key signed. */
  findKeyUsage(brokerId: string, kid: string): Promise<KeyUsage>;
  /**
   * Applies `rotation` atomically, only if `retiring` is still current and `promoting` still the next key
   * (another rotation or revocation of this broker may have got there first): returns false then, and
   * writes nothing. `audit` is written with it.
   */
  rotateSigningKey(rotation: KeyRotation, audit?: AuditEventRecord): Promise<boolean>;
  /**
   * Revokes a key that is not current, atomically with publishing its replacement, only if it is still the
   * next key (with a replacement) or a retired one (without): returns false otherwise, and writes nothing.
   */
  revokeSigningKey(revocation: KeyRevocation, audit?: AuditEventRecord): Promise<boolean>;
  /** Publishes `next` as the broker's next key unless it has one; returns whether it did. */
  insertNextSigningKey(next: SigningKeyRecord, audit?: AuditEventRecord): Promise<boolean>;
  /**
   * Deletes retired and revoked keys whose `removeAfter` (epoch ms) is before `now`; returns the broker id of
   * each deleted key that was still published.
   */
  deleteRemovableSigningKeys(now: number): Promise<string[]>;

  /** All or nothing, whatever the batch size; with `audit`, the event is written in the same transaction. */
  insertIssuedCredentials(records: IssuedCredentialRecord[], audit?: AuditEventRecord): Promise<void>;
  /** The `exp` of issued credentials by jti, for the given broker (to keep with their revocations). */
  findCredentialExpiries(brokerId: string, jtis: string[]): Promise<Map<string, number | null>>;
  /** Of `jtis`, those the broker has neither a record of nor a revocation for, in the order given. */
  findUnknownJtis(brokerId: string, jtis: string[]): Promise<string[]>;
  /**
   * Records a refreshed credential (its `parentJti` is the presented jti), unless the presented jti is
   * revoked when the write runs: then nothing is written and the result is false, so a refresh racing a
   * revocation of the presented credential (or of its ancestors) never leaves a live child behind. With
   * `revokePresented`, also revokes the presented jti (and appends the feed event) in the same transaction,
   * but only when this call is the one that revokes it: when the jti is revoked already (a concurrent
   * refresh won) nothing is written and the result is false. `audit` is written with the record, in the
   * same transaction, and only when the record is.
   */
  insertRefreshedCredential(
    record: IssuedCredentialRecord,
    revokePresented?: Omit<RevocationRecord, 'descendantOf'> & { brokerId: string },
    audit?: AuditEventRecord,
  ): Promise<boolean>;
  /**
   * Deletes records of credentials whose `exp` (epoch seconds) is before `before`, keeping refresh chains
   * whole: the children of a deleted record are attached to its nearest ancestor still recorded, and the
   * first record of a chain stays while a credential refreshed from it has not expired. Returns how many.
   */
  deleteExpiredCredentials(before: number): Promise<number>;

  /**
   * Revokes `revocations` (by name) and, in the same transaction, every credential refreshed from them,
   * directly or not, that is not revoked yet: each marked `descendantOf` its nearest ancestor among the
   * named jtis and given its own `exp`. Idempotent: an already revoked jti keeps its first record (but a
   * named one revoked as a descendant before is marked as revoked by name from then on). Appends
   * to the revocation feed (a named jti every time, a descendant when it is revoked). All or nothing,
   * `audit` included; its details get `descendants`: the jtis revoked as descendants of the named ones.
   */
  insertRevocations(
    brokerId: string,
    revocations: Omit<RevocationRecord, 'descendantOf'>[],
    audit?: AuditEventRecord,
  ): Promise<void>;
  /**
   * Un-revokes `jtis` and what was revoked as their descendants, and appends to the revocation feed (a
   * named jti every time, a descendant when it was revoked). All or nothing, `audit` included; its details
   * get `descendants`: the jtis un-revoked with the named ones.
   */
  deleteRevocations(brokerId: string, jtis: string[], at: number, audit?: AuditEventRecord): Promise<void>;
  /** How many jtis the broker's revocation list holds. */
  countRevocations(brokerId: string): Promise<number>;
  listRevocations(brokerId: string, page: Page): Promise<Paged<RevocationRecord>>;
  isRevoked(brokerId: string, jti: string): Promise<boolean>;
  /** Deletes revocations of tokens whose `exp` (epoch seconds) is before `before`; returns how many. */
  deleteExpiredRevocations(before: number): Promise<number>;
  /** Deletes feed events of tokens whose `exp` (epoch seconds) is before `before`; returns how many. */
  deleteExpiredRevocationEvents(before: number): Promise<number>;
  /** Revokes and un-revokes after `afterSeq`, oldest first. */
  listRevocationEvents(brokerId: string, afterSeq: number, limit: number): Promise<RevocationEvent[]>;

  /** Returns false when the broker has a source of that name already. */
  insertIdentitySource(source: IdentitySourceRecord, audit: AuditEventRecord): Promise<boolean>;
  findIdentitySource(brokerId: string, name: string): Promise<IdentitySourceRecord | undefined>;
  /** By name. */
  listIdentitySources(brokerId: string, page: Page): Promise<Paged<IdentitySourceRecord>>;
  /** The broker's JWT sources whose issuer is `issuer`, by name, at most `limit`. */
  findJwtSourcesByIssuer(brokerId: string, issuer: string, limit: number): Promise<IdentitySourceRecord[]>;
  updateIdentitySource(
    id: string,
    changes: IdentitySourceChanges,
    audit: AuditEventRecord,
  ): Promise<IdentitySourceRecord | undefined>;
  deleteIdentitySource(id: string, audit: AuditEventRecord): Promise<void>;

  /** Idempotent on the secret: a key whose hash is stored already is not inserted again, nor audited. */
  insertAdminKey(key: AdminKeyRecord, audit: AuditEventRecord): Promise<void>;
  findAdminKeyByHash(secretHash: string): Promise<AdminKeyRecord | undefined>;
  findAdminKey(id: string): Promise<AdminKeyListing | undefined>;
  listAdminKeys(page: Page): Promise<Paged<AdminKeyListing>>;
  /**
   * Deletes the key unless it is the last read-write key for all namespaces (that would lock every operator
   * out), in one statement so that two concurrent deletes cannot both pass the check. Returns false when
   * it refused.
   */
  deleteAdminKey(id: string, audit: AuditEventRecord): Promise<boolean>;
  countAdminKeys(): Promise<number>;

  /** The sink, with its cursor at the end of its log, and `audit`; returns false when the name is taken. */
  insertRevocationSink(sink: NewRevocationSink, audit: AuditEventRecord): Promise<boolean>;
  findRevocationSink(brokerId: string, name: string): Promise<RevocationSinkRecord | undefined>;
  /** By name. */
  listRevocationSinks(brokerId: string, page: Page): Promise<Paged<RevocationSinkRecord>>;
  /** New settings, and the next attempt at once (the change may be the fix of a failing sink). */
  updateRevocationSink(
    id: string,
    changes: { config: RevocationSinkConfig; modifiedAt: number },
    audit: AuditEventRecord,
  ): Promise<RevocationSinkRecord | undefined>;
  deleteRevocationSink(id: string, audit: AuditEventRecord): Promise<void>;
  /** Sinks whose next attempt is due at `now` (epoch ms), by id after `afterId` ('' to start). */
  listDueRevocationSinks(now: number, afterId: string, limit: number): Promise<RevocationSinkRecord[]>;
  /**
   * Moves the sink's cursor from `from` to `to` and clears its failure, unless its cursor is no longer `from`
   * (another process delivered, or the sink was deleted): returns false then, and writes nothing. With `to`
   * equal to `from`, only clears the failure.
   */
  advanceRevocationSink(id: string, from: number, to: number, at: number): Promise<boolean>;
  /** Records a failed attempt at the change after `cursor`, under the same condition as advancing. */
  recordRevocationSinkFailure(
    id: string,
    cursor: number,
    failure: { attempts: number; nextAttemptAt: number; error: string; at: number },
  ): Promise<boolean>;
  /** The broker's revocation changes after `afterSeq`, oldest first, with the clients they name. */
  listRevocationChanges(brokerId: string, afterSeq: number, limit: number): Promise<RevocationChange[]>;
  countRevocationChanges(brokerId: string, afterSeq: number): Promise<number>;
  /** The broker's audit events after `afterSeq` with one of `actions`, oldest first. */
  listBrokerAuditEvents(
    brokerId: string,
    afterSeq: number,
    actions: readonly AuditAction[],
    limit: number,
  ): Promise<AuditEvent[]>;
  countBrokerAuditEvents(
    brokerId: string,
    afterSeq: number,
    actions: readonly AuditAction[],
  ): Promise<number>;

  /** Newest first. */
  listAuditEvents(filter: AuditFilter, page: Page): Promise<Paged<AuditEvent>>;
  /** Deletes at most `limit` events older than `before` (epoch ms); returns how many. */
  deleteAuditEventsBefore(before: number, limit: number): Promise<number>;
}
