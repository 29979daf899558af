// Why a CONNECT was refused, and the one mapping from those reasons to MQTT CONNACK codes.
import type { AclDenial } from '../core/acl.js';

/**
 * Why {@link Verifier.verifyConnect} refused a CONNECT. Specific, for logs and metrics; on the wire they
 * collapse into a few generic CONNACK codes (see {@link connackCode}). None of them carries the token.
 *
 * - `missing_password`: no password, or an empty one; the password field carries the JWT.
 * - `too_large`: the password is over {@link MAX_TOKEN_BYTES} bytes.
 * - `malformed`: not a compact JWS (three base64url segments), or a header or payload that is not a JSON
 *   object.
 * - `algorithm_not_allowed`: `alg` is not one of the pinned algorithms (`none` and HS* never are), or is not
 *   the algorithm the key with this `kid` is published for.
 * - `critical_header`: the header has `crit`; gatepass never issues one, so it is not one of our tokens.
 * - `wrong_type`: the header's `typ` is not `JWT`.
 * - `unknown_key`: no `kid`, or a `kid` that is not among the configured keys (after at most one refetch).
 * - `keys_unavailable`: the remote key set could not be fetched; a server-side problem, worth retrying.
 * - `bad_signature`: the signature does not verify with the key named by `kid`.
 * - `wrong_issuer`: `iss` is not the configured issuer.
 * - `wrong_audience`: `aud` is not exactly this broker.
 * - `invalid_claims`: `sub`, `jti`, `iat` or `topicAcl` missing or invalid (a `sub` is a client id gatepass
 *   can issue: 1 to 256 of ASCII letters, digits and `- _ . @ : |`), or `exp`/`nbf` not numbers.
 * - `expired`: `exp` has passed (beyond the clock tolerance).
 * - `missing_expiry`: no `exp`, and the verifier is set to `requireExpiry`.
 * - `lifetime_exceeded`: older than the verifier's `maxTokenLifetime` (from `iat`) or `maxTotalLifetime`
 *   (from `orig_iat`), beyond the clock tolerance, whatever its `exp`.
 * - `not_yet_valid`: `nbf` or `iat` lies in the future (beyond the clock tolerance).
 * - `revoked`: the `jti` is in the revocation source.
 * - `revocations_unavailable`: the revocation source cannot vouch for its list (a feed not synced yet, or
 *   unreachable for longer than its `maxStalenessMs`); a server-side problem, worth retrying.
 * - `client_id_mismatch`: a non-empty CONNECT client id that is not the token's `sub`.
 * - `username_mismatch`: a non-empty username that is not the (effective) client id.
 *
 * @example
 * const result = await verifier.verifyConnect(connect);
 * if (!result.ok) metrics.increment('connect_refused', { reason: result.reason });
 */
export type ConnectFailureReason = (typeof CONNECT_FAILURE_REASONS)[number];

/**
 * Every {@link ConnectFailureReason}, for metrics labels and exhaustive tests.
 *
 * @example
 * const refusals = new Map(CONNECT_FAILURE_REASONS.map((reason) => [reason, 0]));
 */
export const CONNECT_FAILURE_REASONS = [
  'missing_password',
  'too_large',
  'malformed',
  'algorithm_not_allowed',
  'critical_header',
  'wrong_type',
  'unknown_key',
  'keys_unavailable',
  'bad_signature',
  'wrong_issuer',
  'wrong_audience',
  'invalid_claims',
  'expired',
  'missing_expiry',
  'lifetime_exceeded',
  'not_yet_valid',
  'revoked',
  'revocations_unavailable',
  'client_id_mismatch',
  'username_mismatch',
] as const;

/**
 * Largest password, in bytes, the verifier will look at; gatepass tokens are far smaller.
 *
 * @example
 * if (packet.password.byteLength > MAX_TOKEN_BYTES) return sendConnack(0x86); // what verifyConnect says too
 */
export const MAX_TOKEN_BYTES = 4096;

/**
 * MQTT 3.1 and 3.1.1 CONNACK return codes (§3.2.2.3) the verifier uses.
 *
 * @example
 * const code: Mqtt311ConnackCode = connackCode('expired', 4); // 0x04
 */
export type Mqtt311ConnackCode = 0x02 | 0x03 | 0x04 | 0x05;

/**
 * MQTT 5 CONNACK reason codes (§3.2.2.2) the verifier uses.
 *
 * @example
 * const code: Mqtt5ConnackCode = connackCode('revoked', 5); // 0x87
 */
export type Mqtt5ConnackCode = 0x85 | 0x86 | 0x87 | 0x88;

/**
 * MQTT protocol level from the CONNECT packet: 3 is MQTT 3.1, 4 is MQTT 3.1.1, 5 is MQTT 5.
 *
 * @example
 * const version = packet.protocolVersion as MqttProtocolVersion;
 * sendConnack(connackCode(result.reason, version));
 */
export type MqttProtocolVersion = 3 | 4 | 5;

interface ConnackCodes {
  readonly v311: Mqtt311ConnackCode;
  readonly v5: Mqtt5ConnackCode;
}

const BAD_CREDENTIALS: ConnackCodes = { v311: 0x04, v5: 0x86 };
const NOT_AUTHORIZED: ConnackCodes = { v311: 0x05, v5: 0x87 };
const IDENTIFIER_REJECTED: ConnackCodes = { v311: 0x02, v5: 0x85 };
const SERVER_UNAVAILABLE: ConnackCodes = { v311: 0x03, v5: 0x88 };

/**
 * The CONNACK code to send for a refusal. Deliberately coarse (a client learns only which of four things
 * to do), so the wire never says which check failed:
 *
 * - bad user name or password (3.1.1 `0x04`, 5 `0x86`) for every problem with the token itself, including
 *   `expired`, `missing_expiry` and `lifetime_exceeded` (the client should fetch a new credential) and `too_large` (MQTT 5's `0x95` Packet too large
 *   would blame the packet, which the broker accepted; it is the credential we refuse), and for
 *   `username_mismatch`, the user name being half of the credential pair;
 * - identifier rejected (`0x02`, 5 `0x85` Client Identifier not valid) for `client_id_mismatch`, the
 *   code MQTT reserves for an unacceptable client id (3.1.1 §3.1.3.1);
 * - not authorized (`0x05`, 5 `0x87`) for `revoked`: the credential is genuine but withdrawn, and a client
 *   should stop rather than retry it;
 * - server unavailable (`0x03`, 5 `0x88`) for `keys_unavailable` and `revocations_unavailable`: nothing
 *   is wrong with the client, which should retry later. (MQTT 5's `0x8C` Bad authentication method is for
 *   enhanced authentication with an AUTH exchange, which gatepass does not use.)
 *
 * @example
 * const result = await verifier.verifyConnect({ clientId, username, password });
 * if (!result.ok) {
 *   log.info({ reason: result.reason }, 'CONNECT refused');
 *   return sendConnack(connackCode(result.reason, packet.protocolVersion));
 * }
 */
export function connackCode(reason: ConnectFailureReason, protocolVersion: 3 | 4): Mqtt311ConnackCode;
export function connackCode(reason: ConnectFailureReason, protocolVersion: 5): Mqtt5ConnackCode;
export function connackCode(
  reason: ConnectFailureReason,
  protocolVersion: MqttProtocolVersion,
): Mqtt311ConnackCode | Mqtt5ConnackCode;
export function connackCode(
  reason: ConnectFailureReason,
  protocolVersion: MqttProtocolVersion,
): Mqtt311ConnackCode | Mqtt5ConnackCode {
  const codes = connackCodes(reason);
  return protocolVersion === 5 ? codes.v5 : codes.v311;
}

function connackCodes(reason: ConnectFailureReason): ConnackCodes {
  switch (reason) {
    case 'missing_password':
    case 'too_large':
    case 'malformed':
    case 'algorithm_not_allowed':
    case 'critical_header':
    case 'wrong_type':
    case 'unknown_key':
    case 'bad_signature':
    case 'wrong_issuer':
    case 'wrong_audience':
    case 'invalid_claims':
    case 'expired':
    case 'missing_expiry':
    case 'lifetime_exceeded':
    case 'not_yet_valid':
    case 'username_mismatch':
      return BAD_CREDENTIALS;
    case 'revoked':
      return NOT_AUTHORIZED;
    case 'client_id_mismatch':
      return IDENTIFIER_REJECTED;
    case 'keys_unavailable':
    case 'revocations_unavailable':
      return SERVER_UNAVAILABLE;
    default:
      return unreachable(reason);
  }
}

/**
 * MQTT 5 PUBACK/PUBREC (`0x87`, `0x90`) and SUBACK (`0x87`, `0x8F`) reason codes the verifier uses.
 *
 * @example
 * const code: Mqtt5AclCode = aclReasonCode('invalid_topic'); // 0x90
 */
export type Mqtt5AclCode = 0x87 | 0x8f | 0x90;

/**
 * The MQTT 5 reason code for a refused PUBLISH (in PUBACK or PUBREC) or SUBSCRIBE (per filter in SUBACK):
 * `0x90` Topic Name invalid, `0x8F` Topic Filter invalid (a malformed `$share` included), `0x87` Not
 * authorized. MQTT 3.1.1 has one SUBACK failure code, `0x80`, and no negative PUBLISH acknowledgement.
 *
 * @example
 * const decision = authorize(session, 'subscribe', filter);
 * const code = decision.ok ? grantedQos : aclReasonCode(decision.reason);
 */
export function aclReasonCode(denial: AclDenial): Mqtt5AclCode {
  switch (denial) {
    case 'invalid_topic':
      return 0x90;
    case 'invalid_filter':
    case 'invalid_shared_subscription':
      return 0x8f;
    case 'not_permitted':
      return 0x87;
    default:
      return unreachable(denial);
  }
}

function unreachable(value: never): never {
  throw new Error(`unhandled case: ${String(value)}`);
}
