// Tables (drizzle-kit reads this file to write drizzle/). What is stored and what never is: docs/storage-schema.md.
import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

const timestamps = {
  createdAt: integer('created_at', { mode: 'number' }).notNull(),
  modifiedAt: integer('modified_at', { mode: 'number' }).notNull(),
};

export const namespaces = sqliteTable('namespaces', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  description: text('description').notNull().default(''),
  ...timestamps,
});

export const brokers = sqliteTable(
  'brokers',
  {
    id: text('id').primaryKey(),
    namespaceId: text('namespace_id')
      .notNull()
      .references(() => namespaces.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    authType: text('auth_type', { enum: ['TOKEN'] }).notNull(),
    /** Seconds a credential lives; null: credentials carry no `exp` unless a request asks for one. */
    expiration: integer('expiration'),
    algorithm: text('algorithm', { enum: ['EdDSA', 'ES256'] }).notNull(),
    /** JSON: `"#"` or `{ "pub": [...], "sub": [...] }`. */
    defaultTopicAcl: text('default_topic_acl').notNull(),
    issuer: text('issuer').notNull(),
    audience: text('audience').notNull(),
    /** Seconds after which the scheduled job replaces the signing key; null: never. */
    keyRotationPeriod: integer('key_rotation_period'),
    /**
     * Seconds a credential may live counted from its first issue, across refreshes and exchanges; null: no
     * limit beyond `expiration`.
     */
    maxLifetime: integer('max_lifetime'),
    /** The longest client id this broker's credentials may name (26-256 characters). */
    maxClientIdLength: integer('max_client_id_length').notNull().default(128),
    /** Which extra claims credentials carry for a broker's own JWT authenticator: standard, emqx or tbmq. */
    claimProfile: text('claim_profile', { enum: ['standard', 'emqx', 'tbmq'] })
      .notNull()
      .default('standard'),
    ...timestamps,
  },
  (table) => [uniqueIndex('brokers_namespace_name').on(table.namespaceId, table.name)],
);

export const signingKeys = sqliteTable(
  'signing_keys',
  {
    brokerId: text('broker_id')
      .notNull()
      .references(() => brokers.id, { onDelete: 'cascade' }),
    kid: text('kid').notNull(),
    algorithm: text('algorithm', { enum: ['EdDSA', 'ES256'] }).notNull(),
    /** JSON public JWK. */
    publicJwk: text('public_jwk').notNull(),
    /** The private JWK sealed with AES-256-GCM under the key-encryption key; never stored in clear. */
    sealedPrivateJwk: text('sealed_private_jwk').notNull(),
    /** When it was published (as the next key, or as a broker's first key). */
    createdAt: integer('created_at', { mode: 'number' }).notNull(),
    /** When it began signing; null: the next key, published but signing nothing yet. */
    activatedAt: integer('activated_at', { mode: 'number' }),
    /** Set when a newer key took over signing; the key stays published until its tokens have expired. */
    retiredAt: integer('retired_at', { mode: 'number' }),
    /** When a retired key leaves the JWKS: after the last token it signed expires (or a bounded overlap). */
    removeAfter: integer('remove_after', { mode: 'number' }),
    /** Set when an operator revoked it: out of the JWKS at once, its sealed private key erased. */
    revokedAt: integer('revoked_at', { mode: 'number' }),
  },
  (table) => [primaryKey({ columns: [table.brokerId, table.kid] })],
);

/** Metadata of issued credentials; the JWT itself is never stored. */
export const issuedCredentials = sqliteTable(
  'issued_credentials',
  {
    brokerId: text('broker_id')
      .notNull()
      .references(() => brokers.id, { onDelete: 'cascade' }),
    jti: text('jti').notNull(),
    clientId: text('client_id').notNull(),
    kid: text('kid').notNull(),
    issuedAt: integer('issued_at', { mode: 'number' }).notNull(),
    expiresAt: integer('expires_at', { mode: 'number' }),
    issuedBy: text('issued_by').notNull(),
    /**
     * Refreshed credentials: the credential this one was refreshed from, so that revoking a credential
     * revokes what was refreshed from it. When the scheduled job prunes an expired link of a chain, its
     * children are attached to its nearest remaining ancestor (docs/storage-schema.md).
     */
    parentJti: text('parent_jti'),
  },
  (table) => [
    primaryKey({ columns: [table.brokerId, table.jti] }),
    // For the rotation job: when did the last token a retiring key signed expire?
    index('issued_credentials_kid').on(table.brokerId, table.kid, table.expiresAt),
    // A credential's children, for revoking them with it; only refreshed credentials take room in it.
    index('issued_credentials_parent')
      .on(table.brokerId, table.parentJti)
      .where(sql`${table.parentJti} IS NOT NULL`),
  ],
);

/** The current revocation list; `expiresAt` is the token's `exp`, so dead entries can be pruned. */
export const revocations = sqliteTable(
  'revocations',
  {
    brokerId: text('broker_id')
      .notNull()
      .references(() => brokers.id, { onDelete: 'cascade' }),
    jti: text('jti').notNull(),
    revokedAt: integer('revoked_at', { mode: 'number' }).notNull(),
    expiresAt: integer('expires_at', { mode: 'number' }),
    revokedBy: text('revoked_by').notNull(),
    /**
     * Revoked because this jti was revoked by name: the credential was refreshed from it (directly or
     * not). Un-revoking that jti un-revokes this one too. Null: revoked by name, or by a refresh.
     */
    descendantOf: text('descendant_of'),
  },
  (table) => [
    primaryKey({ columns: [table.brokerId, table.jti] }),
    index('revocations_descendant_of')
      .on(table.brokerId, table.descendantOf)
      .where(sql`${table.descendantOf} IS NOT NULL`),
  ],
);

/**
 * What a broker trusts for token exchange: a JWT issuer (JWKS URL or shared HMAC secret) or a webhook.
 * `settings` is JSON whose secrets (HMAC secret, webhook headers) are sealed under the key-encryption key.
 */
export const identitySources = sqliteTable(
  'identity_sources',
  {
    id: text('id').primaryKey(),
    brokerId: text('broker_id')
      .notNull()
      .references(() => brokers.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    kind: text('kind', { enum: ['jwt', 'webhook'] }).notNull(),
    settings: text('settings').notNull(),
    /** JSON: `{ clientId, pub, sub }` templates with `${...}` placeholders filling whole topic levels. */
    aclTemplate: text('acl_template').notNull(),
    ...timestamps,
  },
  (table) => [uniqueIndex('identity_sources_broker_name').on(table.brokerId, table.name)],
);

/**
 * Every revoke and un-revoke, in order: the feed a verifier follows to keep its in-memory list current
 * without downloading the whole list again. `seq` is the feed's cursor.
 */
export const revocationEvents = sqliteTable(
  'revocation_events',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    brokerId: text('broker_id')
      .notNull()
      .references(() => brokers.id, { onDelete: 'cascade' }),
    jti: text('jti').notNull(),
    revoked: integer('revoked', { mode: 'boolean' }).notNull(),
    expiresAt: integer('expires_at', { mode: 'number' }),
    at: integer('at', { mode: 'number' }).notNull(),
  },
  (table) => [index('revocation_events_broker_seq').on(table.brokerId, table.seq)],
);

export const adminKeys = sqliteTable('admin_keys', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  /** SHA-256 of the whole key: keys are 256-bit random, so a fast hash is the right tool (no stretching). */
  secretHash: text('secret_hash').notNull().unique(),
  /** The last characters of the key, to tell keys apart in listings. */
  hint: text('hint').notNull(),
  /** null: every namespace. */
  namespaceId: text('namespace_id').references(() => namespaces.id, { onDelete: 'cascade' }),
  /** read, write, or exchange: may only trade identities for credentials (token exchange, refresh). */
  permission: text('permission', { enum: ['read', 'write', 'exchange'] }).notNull(),
  createdAt: integer('created_at', { mode: 'number' }).notNull(),
  createdBy: text('created_by'),
});

/**
 * Who did what and when: issuing, refreshing, exchanging, revoking, un-revoking, key rotation and admin-key
 * changes. No foreign keys: the trail outlives the brokers and keys it names. `details` is JSON holding jtis,
 * client ids and kids, never a token or a secret.
 */
export const auditEvents = sqliteTable(
  'audit_events',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    /** Epoch ms. */
    at: integer('at', { mode: 'number' }).notNull(),
    action: text('action').notNull(),
    /**
     * The admin key id; `refresh:<jti>` for a refresh (the presented token), `scheduler` for the job,
     * `startup` for the admin key registered at start-up.
     */
    actor: text('actor').notNull(),
    /** null: above any one namespace (global admin keys, the scheduled job's totals). */
    namespaceId: text('namespace_id'),
    namespace: text('namespace'),
    brokerId: text('broker_id'),
    broker: text('broker'),
    details: text('details').notNull(),
  },
  (table) => [
    index('audit_events_namespace_seq').on(table.namespaceId, table.seq),
    index('audit_events_at').on(table.at),
    // For webhook revocation sinks, which follow one broker's events after their cursor.
    index('audit_events_broker_seq').on(table.brokerId, table.seq),
  ],
);

/**
 * Where a broker's changes are delivered: a broker's management API that disconnects revoked clients
 * (`rabbitmq`, `emqx`), or a signed webhook (`webhook`). Each sink is an outbox reader: `cursor` is the `seq` of
 * the last change it has delivered, in `revocation_events` (rabbitmq, emqx) or `audit_events` (webhook), so a
 * revocation needs no write beyond its own, and a delivery survives restarts. `settings` is JSON whose secret
 * (management password, API secret, webhook secret) is sealed under the key-encryption key, bound to the sink.
 */
export const revocationSinks = sqliteTable(
  'revocation_sinks',
  {
    id: text('id').primaryKey(),
    brokerId: text('broker_id')
      .notNull()
      .references(() => brokers.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    kind: text('kind', { enum: ['rabbitmq', 'emqx', 'webhook'] }).notNull(),
    settings: text('settings').notNull(),
    cursor: integer('cursor').notNull(),
    /** Failed attempts in a row at the change after the cursor; 0 once one succeeds. */
    attempts: integer('attempts').notNull().default(0),
    /** Epoch ms: no attempt before (the backoff after a failure); null: at once. */
    nextAttemptAt: integer('next_attempt_at', { mode: 'number' }),
    /** Epoch ms of the first failure in a row; null while deliveries succeed. */
    failingSince: integer('failing_since', { mode: 'number' }),
    /** Why the last attempt failed (a status and the start of the answer, or a network error); no secret. */
    lastError: text('last_error'),
    lastDeliveredAt: integer('last_delivered_at', { mode: 'number' }),
    ...timestamps,
  },
  (table) => [uniqueIndex('revocation_sinks_broker_name').on(table.brokerId, table.name)],
);
