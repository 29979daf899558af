// Domain records -> wire JSON (snake_case and ISO timestamps, as Cloudflare's API).
import type { AdminKeyView } from '../service/admin-keys.js';
import type { BrokerView } from '../service/brokers.js';
import type { IssuedCredential } from '../service/credentials.js';
import type { PageResult } from '../service/paging.js';
import type { RevocationFeedPage } from '../service/revocations.js';
import type { SigningKeyView } from '../service/signing-keys.js';
import type { NamespaceRecord, RevocationRecord } from '../store/port.js';
import { type ResultInfo, success } from './envelope.js';
import { timestamp } from './schemas.js';

export function namespaceJson(namespace: NamespaceRecord) {
  return {
    id: namespace.id,
    name: namespace.name,
    description: namespace.description,
    created_on: timestamp(namespace.createdAt),
    modified_on: timestamp(namespace.modifiedAt),
  };
}

export function brokerJson(broker: BrokerView) {
  return {
    id: broker.id,
    name: broker.name,
    namespace: broker.namespace,
    description: broker.description,
    auth_type: broker.authType,
    expiration: broker.expiration,
    algorithm: broker.algorithm,
    default_topic_acl: broker.defaultTopicAcl,
    issuer: broker.issuer,
    audience: broker.audience,
    key_rotation_period: broker.keyRotationPeriod,
    max_lifetime: broker.maxLifetime,
    max_client_id_length: broker.maxClientIdLength,
    claim_profile: broker.claimProfile,
    created_on: timestamp(broker.createdAt),
    modified_on: timestamp(broker.modifiedAt),
  };
}

const optionalTimestamp = (ms: number | null) => (ms === null ? null : timestamp(ms));

export function signingKeyJson(key: SigningKeyView) {
  return {
    kid: key.kid,
    algorithm: key.algorithm,
    state: key.state,
    published_on: timestamp(key.createdAt),
    ready_on: optionalTimestamp(key.readyAt),
    activated_on: optionalTimestamp(key.activatedAt),
    retired_on: optionalTimestamp(key.retiredAt),
    remove_after: optionalTimestamp(key.removeAfter),
    revoked_on: optionalTimestamp(key.revokedAt),
  };
}

/** Cloudflare's client id -> token map, or with `detail` each credential with its jti and exp. */
export function issuedCredentialsJson(issued: IssuedCredential[], detail: boolean) {
  if (!detail) return Object.fromEntries(issued.map(({ clientId, token }) => [clientId, token]));
  return issued.map(({ clientId, token, jti, expiresAt }) => ({
    client_id: clientId,
    token,
    jti,
    exp: expiresAt,
  }));
}

export function revocationJson(revocation: RevocationRecord) {
  return {
    jti: revocation.jti,
    revoked_on: timestamp(revocation.revokedAt),
    expires_on: revocation.expiresAt === null ? null : timestamp(revocation.expiresAt * 1000),
    descendant_of: revocation.descendantOf,
  };
}

export function revocationFeedJson(feed: RevocationFeedPage) {
  return {
    changes: feed.changes.map(({ jti, revoked, expiresAt }) => ({ jti, revoked, exp: expiresAt })),
    cursor: String(feed.cursor),
    more: feed.more,
  };
}

export function adminKeyJson(key: AdminKeyView) {
  return {
    id: key.id,
    name: key.name,
    hint: key.hint,
    namespace: key.namespaceName,
    permission: key.permission,
    created_on: timestamp(key.createdAt),
    created_by: key.createdBy,
  };
}

export function pagedSuccess<T, U>(page: PageResult<T>, toJson: (item: T) => U) {
  const info: ResultInfo = {
    page: page.page,
    per_page: page.perPage,
    count: page.items.length,
    total_count: page.total,
  };
  return success(page.items.map(toJson), info);
}
