// gatepass/verifier: what an MQTT broker embeds to check gatepass credentials at CONNECT and per message.
import type * as claims from '../core/claims.js';

export type { AclAction, AclDecision, AclDenial, CompiledAcl } from '../core/acl.js';
export { compileAcl, filterCovers, topicMatches } from '../core/acl.js';

/**
 * The payload of every gatepass credential (see {@link VerifiedClaims} for what a verification returns).
 *
 * @example
 * const claims: CredentialClaims = session.claims;
 */
export type CredentialClaims = claims.CredentialClaims;

/**
 * The algorithms gatepass signs with, and the only ones a verifier may pin.
 *
 * @example
 * const algorithms: SigningAlgorithm[] = ['EdDSA', 'ES256'];
 */
export type SigningAlgorithm = claims.SigningAlgorithm;

/**
 * A credential's topic ACL: `'#'` for every topic both ways, or MQTT topic filters per direction.
 *
 * @example
 * const acl: TopicAcl = { pub: ['plant/line-3/#'], sub: ['plant/commands/sensor-17'] };
 */
export type TopicAcl = claims.TopicAcl;
export type {
  AedesAuth,
  AedesAuthError,
  AedesAuthEvent,
  AedesAuthOptions,
  AedesClientLike,
  AedesConnectPacketLike,
  AedesLike,
  AedesPublishPacketLike,
  AedesSubscriptionLike,
  SessionDenial,
} from './adapters/aedes.js';
export { createAedesAuth } from './adapters/aedes.js';
export type {
  EmqxAclRule,
  EmqxAuthentication,
  EmqxAuthRequest,
  EmqxAuthResponse,
  EmqxDenial,
} from './adapters/emqx.js';
export { authenticateEmqx, emqxAclRules } from './adapters/emqx.js';
export type {
  GoAuthAclCheck,
  GoAuthAnswer,
  GoAuthDenial,
  GoAuthUserCheck,
} from './adapters/mosquitto-go-auth.js';
export { goAuthAcl, goAuthSuperuser, goAuthUser } from './adapters/mosquitto-go-auth.js';
export type {
  RabbitMqAnswer,
  RabbitMqAuth,
  RabbitMqAuthOptions,
  RabbitMqDenial,
  RabbitMqParams,
} from './adapters/rabbitmq.js';
export { createRabbitMqAuth, mqttTopicFromRoutingKey } from './adapters/rabbitmq.js';
export type {
  JsonWebKeySet,
  KeyLookup,
  KeySource,
  LocalKeySourceOptions,
  RemoteKeySourceOptions,
  VerificationKey,
} from './keys.js';
export { createLocalKeySource, createRemoteKeySource } from './keys.js';
export type {
  ConnectFailureReason,
  Mqtt5AclCode,
  Mqtt5ConnackCode,
  Mqtt311ConnackCode,
  MqttProtocolVersion,
} from './reasons.js';
export { aclReasonCode, CONNECT_FAILURE_REASONS, connackCode, MAX_TOKEN_BYTES } from './reasons.js';
export type { RevocationSource, StaticRevocations } from './revocation.js';
export { createStaticRevocations } from './revocation.js';
export type {
  RevocationChange,
  RevocationFeed,
  RevocationFeedErrorCode,
  RevocationFeedOptions,
  RevocationFeedStatus,
} from './revocation-feed.js';
export { createRevocationFeed, RevocationFeedError } from './revocation-feed.js';
export type {
  ConnectFailure,
  ConnectInput,
  ConnectResult,
  ConnectSuccess,
  VerifiedClaims,
  Verifier,
  VerifierOptions,
} from './verify.js';
export { authorize, createVerifier } from './verify.js';
