// Token exchange (RFC 8693 for JWTs, and webhook-vouched credentials): a backend trades an identity its users
// already have for a broker credential whose client ID and ACL come from the identity source's template.
import { compileAclTemplate, expandAclTemplate, type TemplateValues } from '../core/acl-template.js';
import { toEpochSeconds } from '../core/clock.js';
import { notFound, ServiceError } from '../core/errors.js';
import type { BrokerRecord, IdentitySourceRecord } from '../store/port.js';
import type { Actor } from './access.js';
import { brokerEvent } from './audit.js';
import type { BrokerService } from './brokers.js';
import type { SignAndRecord } from './credentials.js';
import type { ServiceDeps } from './deps.js';
import {
  unsealHeaders,
  unsealHmacSecret,
  WEBHOOK_PLACEHOLDERS,
  type WebhookInput,
} from './identity-sources.js';
import { createSubjectTokenVerifier, type SubjectTokenRefusal, unverifiedIssuer } from './subject-token.js';
import { askWebhook, unfitForHeaders, type WebhookRefusal } from './webhook-identity.js';

export const TOKEN_EXCHANGE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 8693 §3: what a subject token may be declared as; each is verified as a JWT. */
export const SUBJECT_TOKEN_TYPES = [
  'urn:ietf:params:oauth:token-type:jwt',
  'urn:ietf:params:oauth:token-type:access_token',
  'urn:ietf:params:oauth:token-type:id_token',
] as const;
export const JWT_TOKEN_TYPE = SUBJECT_TOKEN_TYPES[0];
/** A credential from an exchange lives an hour at most; the broker's limits and the request may shorten it. */
export const DEFAULT_EXCHANGE_LIFETIME_SECONDS = 3600;
/** Sources sharing one issuer that are tried in turn (by name) when the request names none. */
const MAX_ISSUER_CANDIDATES = 10;

export interface ExchangeRequest {
  /** The source to use; without it, the broker's JWT sources whose issuer is the token's `iss`. */
  identitySource?: string;
  /** A JWT, for JWT sources. */
  subjectToken?: string;
  /** For webhook sources. */
  webhook: WebhookInput;
  /** Seconds; only shortens the lifetime. */
  expiration?: number;
}

export interface Exchanged {
  clientId: string;
  token: string;
  jti: string;
  /** Seconds. */
  expiresIn: number;
}

export type ExchangeRefusal = SubjectTokenRefusal | WebhookRefusal | 'template_value_refused';

/** The shortest of an hour, the request, the broker's expiration and its max_lifetime (seconds). */
export function exchangeLifetime(
  broker: Pick<BrokerRecord, 'expiration' | 'maxLifetime'>,
  requested: number | undefined,
): number {
  return Math.min(
    DEFAULT_EXCHANGE_LIFETIME_SECONDS,
    requested ?? DEFAULT_EXCHANGE_LIFETIME_SECONDS,
    broker.expiration ?? Number.POSITIVE_INFINITY,
    broker.maxLifetime ?? Number.POSITIVE_INFINITY,
  );
}

/** One place that words refusals for the wire: specific enough to act on, never echoing a token or value. */
function refusal(reason: ExchangeRefusal, detail?: string): ServiceError {
  switch (reason) {
    case 'untrusted_issuer':
      return new ServiceError(
        reason,
        'no identity source of this broker trusts the issuer of the subject token',
      );
    case 'invalid_signature':
      return new ServiceError(
        reason,
        'the subject token is not signed by a key and algorithm the identity source accepts',
        'subject_token',
      );
    case 'token_expired':
      return new ServiceError(reason, 'the subject token has expired', 'subject_token');
    case 'invalid_audience':
      return new ServiceError(
        reason,
        'the subject token is not meant for the identity source’s audience',
        'subject_token',
      );
    case 'invalid_subject_token':
      return new ServiceError(
        reason,
        'the subject token is not a valid JWT with the claims required (sub, exp)',
        'subject_token',
      );
    case 'identity_denied':
      return new ServiceError(reason, `the identity source refused: ${detail ?? 'denied'}`);
    case 'template_value_refused':
      return new ServiceError(reason, `the ACL template cannot be filled safely: ${detail ?? 'refused'}`);
    case 'identity_source_timeout':
      return new ServiceError(reason, `the identity source timed out: ${detail ?? 'no answer in time'}`);
    case 'identity_source_unavailable':
      return new ServiceError(reason, `the identity source is unavailable: ${detail ?? 'unusable answer'}`);
  }
}

type Verdict =
  | { ok: true; identity: TemplateValues }
  | { ok: false; reason: ExchangeRefusal; detail?: string };

export function createTokenExchangeService(
  deps: ServiceDeps,
  brokers: BrokerService,
  signAndRecord: SignAndRecord,
) {
  const { store, clock } = deps;
  // Workers reject a fetch called without its global as `this`; keep the call shape.
  const fetch = deps.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const subjectTokens = createSubjectTokenVerifier({ clock, fetch });

  async function verifyJwt(source: IdentitySourceRecord, token: string): Promise<Verdict> {
    if (source.kind !== 'jwt') throw new TypeError('not a JWT source');
    const secret = await unsealHmacSecret(deps, source.id, source.settings);
    return subjectTokens.verify(token, source.settings, secret);
  }

  async function askSource(source: IdentitySourceRecord, input: WebhookInput): Promise<Verdict> {
    if (source.kind !== 'webhook') throw new TypeError('not a webhook source');
    const headers = await unsealHeaders(deps, source.id, source.settings);
    const unfit = unfitForHeaders(headers, input);
    if (unfit !== undefined) {
      throw new ServiceError(
        'invalid_input',
        `${unfit} goes into a header of this identity source: visible ASCII only, no line breaks`,
        unfit,
      );
    }
    return askWebhook(fetch, source.settings, headers, input);
  }

  /** The source named in the request, verifying what it needs; the request must carry what fits its kind. */
  async function viaNamedSource(
    broker: BrokerRecord,
    request: ExchangeRequest,
    name: string,
  ): Promise<{ source: IdentitySourceRecord; verdict: Verdict }> {
    const source = await store.findIdentitySource(broker.id, name);
    if (!source) throw notFound('identity source');
    if (source.kind === 'jwt') {
      const misplaced = WEBHOOK_PLACEHOLDERS.find((field) => request.webhook[field] !== undefined);
      if (misplaced) {
        throw new ServiceError(
          'invalid_input',
          `${misplaced} applies to webhook sources; '${name}' is a JWT source`,
          misplaced,
        );
      }
      if (request.subjectToken === undefined) {
        throw new ServiceError(
          'invalid_input',
          `identity source '${name}' needs a subject_token`,
          'subject_token',
        );
      }
      return { source, verdict: await verifyJwt(source, request.subjectToken) };
    }
    if (request.subjectToken !== undefined) {
      throw new ServiceError(
        'invalid_input',
        `identity source '${name}' is a webhook: give ${WEBHOOK_PLACEHOLDERS.join(', ')} as it needs, not a subject_token`,
        'subject_token',
      );
    }
    return { source, verdict: await askSource(source, request.webhook) };
  }

  /**
   * Without a named source: the token's unverified `iss` only selects candidates, each of which verifies
   * the token with its own keys, issuer and audience; the first that accepts it wins.
   */
  async function viaIssuer(
    broker: BrokerRecord,
    request: ExchangeRequest,
  ): Promise<{ source: IdentitySourceRecord; verdict: Verdict }> {
    const token = request.subjectToken;
    if (token === undefined) {
      throw new ServiceError(
        'invalid_input',
        'give subject_token (a JWT), or identity_source naming a webhook source',
        'subject_token',
      );
    }
    const misplaced = WEBHOOK_PLACEHOLDERS.find((field) => request.webhook[field] !== undefined);
    if (misplaced) {
      throw new ServiceError(
        'invalid_input',
        `${misplaced} needs identity_source naming a webhook source`,
        misplaced,
      );
    }
    const issuer = unverifiedIssuer(token);
    if (!issuer.ok) throw refusal('invalid_subject_token');
    if (issuer.issuer === undefined) throw refusal('untrusted_issuer');
    const candidates = await store.findJwtSourcesByIssuer(broker.id, issuer.issuer, MAX_ISSUER_CANDIDATES);
    if (candidates.length === 0) throw refusal('untrusted_issuer');
    let first: { source: IdentitySourceRecord; verdict: Verdict } | undefined;
    for (const source of candidates) {
      const verdict = await verifyJwt(source, token);
      if (verdict.ok) return { source, verdict };
      first ??= { source, verdict };
    }
    return first!;
  }

  return {
    async exchange(
      actor: Actor,
      namespaceName: string,
      brokerName: string,
      request: ExchangeRequest,
    ): Promise<Exchanged> {
      const { namespace, broker } = await brokers.access(actor, namespaceName, brokerName, 'exchange');
      const { source, verdict } =
        request.identitySource === undefined
          ? await viaIssuer(broker, request)
          : await viaNamedSource(broker, request, request.identitySource);
      if (!verdict.ok) throw refusal(verdict.reason, verdict.detail);

      const compiled = compileAclTemplate(source.aclTemplate);
      if (!compiled.ok) throw new Error(`identity source ${source.id} holds an invalid ACL template`);
      const expanded = expandAclTemplate(compiled.template, verdict.identity, broker.maxClientIdLength);
      if (!expanded.ok) throw refusal('template_value_refused', expanded.error.message);

      const lifetime = exchangeLifetime(broker, request.expiration);
      const now = clock();
      const issuedAt = toEpochSeconds(now);
      const [signed] = await signAndRecord({
        broker,
        grants: [
          { clientId: expanded.clientId, topicAcl: expanded.topicAcl, expiresAt: issuedAt + lifetime },
        ],
        issuedAt,
        issuedBy: actor.keyId,
        audit: ([record]) =>
          brokerEvent(
            'credentials.exchange',
            actor.keyId,
            now,
            { namespace, broker },
            {
              jti: record!.jti,
              client_id: record!.clientId,
              exp: record!.expiresAt,
              identity_source: source.name,
            },
          ),
      });
      return {
        clientId: signed!.claims.sub,
        token: signed!.token,
        jti: signed!.claims.jti,
        expiresIn: lifetime,
      };
    },
  };
}

export type TokenExchangeService = ReturnType<typeof createTokenExchangeService>;
