// The error vocabulary shared by services and the HTTP layer: a stable code per kind of failure.

export type ErrorCode =
  | 'invalid_input'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  /** The path exists, under other methods (the answer's `Allow` lists them). */
  | 'method_not_allowed'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  /** The request did not finish within the configured time (GATEPASS_REQUEST_TIMEOUT_MS). */
  | 'timeout'
  /** The broker's revocation list is full (GATEPASS_MAX_REVOCATIONS_PER_BROKER). */
  | 'revocation_limit'
  | 'internal'
  /** A presented credential (refresh) is malformed, expired, revoked or not this broker's. */
  | 'invalid_token'
  /** A credential reached its broker's max_lifetime: it cannot be refreshed, only replaced. */
  | 'lifetime_exceeded'
  // Token exchange: the subject token (401), the identity source's verdict (403), its availability (424).
  | 'untrusted_issuer'
  | 'invalid_signature'
  | 'token_expired'
  | 'invalid_audience'
  | 'invalid_subject_token'
  | 'identity_denied'
  | 'template_value_refused'
  | 'identity_source_timeout'
  | 'identity_source_unavailable';

/** An expected failure of a use case; the HTTP layer renders it, nothing else catches it. */
export class ServiceError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

export const notFound = (what: string) => new ServiceError('not_found', `${what} not found`);
