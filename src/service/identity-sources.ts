// Identity sources: what a broker trusts for token exchange (a JWT issuer or a webhook) and the ACL template
// its credentials get. Secrets (an HMAC secret, webhook header values) are sealed under the key-encryption
// key before they are stored, and never returned: views say only that they are set.
import { type AclTemplate, compileAclTemplate, DEFAULT_CLIENT_ID_TEMPLATE } from '../core/acl-template.js';
import { notFound, ServiceError } from '../core/errors.js';
import { type JsonScalar, jsonDepthExcess, parseJsonPath, stringTemplateProblem } from '../core/json.js';
import type {
  BrokerRecord,
  IdentitySourceRecord,
  JwtSourceSettings,
  NamespaceRecord,
  WebhookSourceSettings,
} from '../store/port.js';
import type { Actor, Permission } from './access.js';
import { brokerEvent, changedFields, withWireNames } from './audit.js';
import type { BrokerService } from './brokers.js';
import type { ServiceDeps } from './deps.js';
import { mapPage, type PageRequest, type PageResult, toStorePage } from './paging.js';

/** Signature algorithms a JWKS may vouch for: asymmetric only, so a public key can never act as an HMAC key. */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;
/** With a shared secret (as Supabase projects sign their JWTs). */
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
export const JWT_ALGORITHMS = [...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

export const DEFAULT_JWKS_ALGORITHMS: JwtAlgorithm[] = ['RS256', 'ES256', 'EdDSA'];
export const DEFAULT_HMAC_ALGORITHMS: JwtAlgorithm[] = ['HS256'];
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;
export const MAX_CLOCK_TOLERANCE_SECONDS = 300;

/** What a webhook's body template and header values may use; a value the caller did not give is "". */
export const WEBHOOK_PLACEHOLDERS = ['username', 'password', 'clientid', 'peerhost', 'protocol'] as const;
export type WebhookInput = Partial<Record<(typeof WEBHOOK_PLACEHOLDERS)[number], string>>;
export const DEFAULT_WEBHOOK_BODY = {
  username: '${username}',
  password: '${password}',
  clientid: '${clientid}',
  peerhost: '${peerhost}',
};
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 5000;
export const MIN_WEBHOOK_TIMEOUT_MS = 100;
export const MAX_WEBHOOK_TIMEOUT_MS = 10_000;
export const DEFAULT_PRINCIPAL_PATH = '$.user_id';
export const DEFAULT_ATTRIBUTES_PATH = '$.attributes';
/**
 * Without a success path, an answer that has a `result` member must say one of these there: what FlowMQ's
 * (`"success"`) and EMQX's (`"allow"`) webhook authenticators expect, so `{"result": "deny"}` denies.
 */
export const DEFAULT_SUCCESS_VALUES: readonly JsonScalar[] = ['success', 'allow'];
export const DEFAULT_SUCCESS_MEMBER = 'result';
export const MAX_SUCCESS_VALUES = 16;
export const MAX_BODY_TEMPLATE_DEPTH = 8;
/**
 * What a header value may hold, as saved and once filled: visible ASCII and tabs (RFC 9110 §5.5 without
 * obs-text), so a value can never add a header nor make fetch refuse the call as if the webhook were down.
 */
export const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
export const MAX_HEADER_VALUE_LENGTH = 4096;

export interface AclTemplateInput {
  /** Default `${sub}`. */
  clientId?: string;
  pub: string[];
  sub: string[];
}

export interface JwtSourceFields {
  issuer: string;
  audience: string | string[];
  /** Exactly one of `jwksUrl` and `secret`. */
  jwksUrl?: string;
  secret?: string;
  algorithms?: JwtAlgorithm[];
  clockTolerance?: number;
}

export interface WebhookSourceFields {
  url: string;
  body?: Record<string, unknown>;
  /** Sent with every call; values may be secrets (they are sealed, and never shown again). */
  headers?: Record<string, string>;
  timeoutMs?: number;
  principalPath?: string;
  attributesPath?: string;
  /** Null: `$.result`, when the answer has one. */
  successPath?: string | null;
  successValues?: JsonScalar[];
}

export type IdentitySourceInput = { name: string; aclTemplate: AclTemplateInput } & (
  | ({ kind: 'jwt' } & JwtSourceFields)
  | ({ kind: 'webhook' } & WebhookSourceFields)
);

/** A change to a source: fields of its own kind only; giving `secret` or `jwksUrl` switches a JWT source. */
export type IdentitySourceUpdate = Partial<JwtSourceFields> &
  Partial<WebhookSourceFields> & { aclTemplate?: AclTemplateInput };

export interface JwtSourceView {
  issuer: string;
  audience: string | string[];
  algorithms: string[];
  clockTolerance: number;
  jwksUrl: string | null;
  hasSecret: boolean;
}

export interface WebhookSourceView {
  url: string;
  body: unknown;
  /** Names only: header values are never returned. */
  headers: string[];
  timeoutMs: number;
  principalPath: string;
  attributesPath: string;
  successPath: string | null;
  successValues: JsonScalar[];
}

export type IdentitySourceView = {
  id: string;
  name: string;
  namespace: string;
  broker: string;
  aclTemplate: AclTemplate;
  createdAt: number;
  modifiedAt: number;
} & ({ kind: 'jwt'; settings: JwtSourceView } | { kind: 'webhook'; settings: WebhookSourceView });

/** Sealed secrets are bound to their source and purpose, so a value copied elsewhere will not open. */
export function identitySourceSealingContext(sourceId: string, purpose: 'hmac-secret' | 'headers'): string {
  return `gatepass:identity-source:${sourceId}:${purpose}`;
}

/** The wire names of the fields, for errors. */
const wire: Record<keyof JwtSourceFields | keyof WebhookSourceFields, string> = {
  issuer: 'issuer',
  audience: 'audience',
  jwksUrl: 'jwks_url',
  secret: 'secret',
  algorithms: 'algorithms',
  clockTolerance: 'clock_tolerance',
  url: 'url',
  body: 'body',
  headers: 'headers',
  timeoutMs: 'timeout_ms',
  principalPath: 'principal_path',
  attributesPath: 'attributes_path',
  successPath: 'success_path',
  successValues: 'success_values',
};
const jwtFields = ['issuer', 'audience', 'jwksUrl', 'secret', 'algorithms', 'clockTolerance'] as const;
const webhookFields = [
  'url',
  'body',
  'headers',
  'timeoutMs',
  'principalPath',
  'attributesPath',
  'successPath',
  'successValues',
] as const;

const invalid = (message: string, field: string) => new ServiceError('invalid_input', message, field);

function checkAclTemplate({
  clientId = DEFAULT_CLIENT_ID_TEMPLATE,
  pub,
  sub,
}: AclTemplateInput): AclTemplate {
  const template = { clientId, pub, sub };
  const compiled = compileAclTemplate(template);
  if (!compiled.ok) throw invalid(compiled.error.message, `acl_template.${compiled.error.field}`);
  return template;
}

function checkAlgorithms(algorithms: readonly string[], withSecret: boolean): void {
  const allowed: readonly string[] = withSecret ? HMAC_ALGORITHMS : ASYMMETRIC_ALGORITHMS;
  if (!algorithms.every((algorithm) => allowed.includes(algorithm))) {
    throw invalid(
      withSecret
        ? `with a shared secret only ${HMAC_ALGORITHMS.join(', ')} apply`
        : `with jwks_url only asymmetric algorithms apply (${ASYMMETRIC_ALGORITHMS.join(', ')})`,
      'algorithms',
    );
  }
}

function checkPath(path: string, field: string): string {
  if (parseJsonPath(path) === undefined) {
    throw invalid(
      'a path is $ followed by .name or [index] steps (names of letters, digits, _ and -; at most 16 steps)',
      field,
    );
  }
  return path;
}

/** Body templates and header values: placeholders the exchange request can fill, nothing else. */
function checkTemplate<T>(template: T, field: string): T {
  const problem = stringTemplateProblem(template, WEBHOOK_PLACEHOLDERS);
  if (problem) {
    throw invalid(
      problem.problem === 'unknown_placeholder'
        ? `unknown placeholder \${${problem.name}}: use ${WEBHOOK_PLACEHOLDERS.map((name) => `\${${name}}`).join(', ')}`
        : 'a placeholder is written ${name}',
      [field, ...problem.path].join('.'),
    );
  }
  return template;
}

function checkBodyTemplate(body: Record<string, unknown>): Record<string, unknown> {
  // Before the template is walked (recursively) for placeholders, and before it is ever filled.
  if (jsonDepthExcess(body, MAX_BODY_TEMPLATE_DEPTH) !== null) {
    throw invalid(`the body template nests at most ${MAX_BODY_TEMPLATE_DEPTH} levels`, 'body');
  }
  return checkTemplate(body, 'body');
}

/** The rule a webhook's answer must meet besides a 2xx status; sources saved before rules existed get the default. */
export function webhookSuccessRule(settings: Pick<WebhookSourceSettings, 'successPath' | 'successValues'>): {
  path: string | null;
  values: readonly JsonScalar[];
} {
  return { path: settings.successPath ?? null, values: settings.successValues ?? DEFAULT_SUCCESS_VALUES };
}

function toView(namespace: NamespaceRecord, broker: BrokerRecord) {
  return (source: IdentitySourceRecord): IdentitySourceView => {
    const common = {
      id: source.id,
      name: source.name,
      namespace: namespace.name,
      broker: broker.name,
      aclTemplate: source.aclTemplate,
      createdAt: source.createdAt,
      modifiedAt: source.modifiedAt,
    };
    if (source.kind === 'jwt') {
      const { sealedSecret, ...settings } = source.settings;
      return { ...common, kind: 'jwt', settings: { ...settings, hasSecret: sealedSecret !== null } };
    }
    const { sealedHeaders: _, headerNames, ...settings } = source.settings;
    const rule = webhookSuccessRule(source.settings);
    return {
      ...common,
      kind: 'webhook',
      settings: {
        ...settings,
        headers: headerNames,
        successPath: rule.path,
        successValues: [...rule.values],
      },
    };
  };
}

/** A source as the audit trail records it: its view (no secret, header names only), in the API's field names. */
function auditedSource(view: IdentitySourceView): Record<string, unknown> {
  return withWireNames({
    kind: view.kind,
    ...view.settings,
    aclTemplate: withWireNames({ ...view.aclTemplate }),
  });
}

/** The shared secret of a JWT source, unsealed. */
export async function unsealHmacSecret(
  { keyEncryptionKey }: Pick<ServiceDeps, 'keyEncryptionKey'>,
  sourceId: string,
  settings: JwtSourceSettings,
): Promise<string | null> {
  if (settings.sealedSecret === null) return null;
  return keyEncryptionKey.decrypt(
    settings.sealedSecret,
    identitySourceSealingContext(sourceId, 'hmac-secret'),
  );
}

/** The headers of a webhook source, unsealed. */
export async function unsealHeaders(
  { keyEncryptionKey }: Pick<ServiceDeps, 'keyEncryptionKey'>,
  sourceId: string,
  settings: WebhookSourceSettings,
): Promise<Record<string, string>> {
  if (settings.sealedHeaders === null) return {};
  const json = await keyEncryptionKey.decrypt(
    settings.sealedHeaders,
    identitySourceSealingContext(sourceId, 'headers'),
  );
  return JSON.parse(json) as Record<string, string>;
}

export function createIdentitySourceService(deps: ServiceDeps, brokers: BrokerService) {
  const { store, clock, newId, keyEncryptionKey } = deps;

  async function access(actor: Actor, namespaceName: string, brokerName: string, needed: Permission) {
    return brokers.access(actor, namespaceName, brokerName, needed);
  }

  async function find(broker: BrokerRecord, name: string): Promise<IdentitySourceRecord> {
    const source = await store.findIdentitySource(broker.id, name);
    if (!source) throw notFound('identity source');
    return source;
  }

  const sealSecret = (sourceId: string, secret: string) =>
    keyEncryptionKey.encrypt(secret, identitySourceSealingContext(sourceId, 'hmac-secret'));

  async function sealHeaders(sourceId: string, headers: Record<string, string>) {
    checkTemplate(headers, 'headers');
    const names = Object.keys(headers).map((name) => name.toLowerCase());
    if (new Set(names).size !== names.length)
      throw invalid('header names must differ (case aside)', 'headers');
    const lowercased = Object.fromEntries(
      Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]),
    );
    return {
      headerNames: names.sort(),
      sealedHeaders:
        names.length === 0
          ? null
          : await keyEncryptionKey.encrypt(
              JSON.stringify(lowercased),
              identitySourceSealingContext(sourceId, 'headers'),
            ),
    };
  }

  async function jwtSettings(
    sourceId: string,
    fields: JwtSourceFields,
    current?: JwtSourceSettings,
  ): Promise<JwtSourceSettings> {
    if (fields.jwksUrl !== undefined && fields.secret !== undefined) {
      throw invalid('give jwks_url or secret, not both', 'secret');
    }
    let jwksUrl = current?.jwksUrl ?? null;
    let sealedSecret = current?.sealedSecret ?? null;
    if (fields.jwksUrl !== undefined) {
      jwksUrl = fields.jwksUrl;
      sealedSecret = null;
    }
    if (fields.secret !== undefined) {
      jwksUrl = null;
      sealedSecret = await sealSecret(sourceId, fields.secret);
    }
    if (jwksUrl === null && sealedSecret === null) {
      throw invalid(
        'give jwks_url (keys fetched from the issuer) or secret (a shared HMAC secret)',
        'jwks_url',
      );
    }
    const withSecret = sealedSecret !== null;
    const switched = current !== undefined && (current.sealedSecret !== null) !== withSecret;
    const algorithms =
      fields.algorithms ??
      (current && !switched
        ? current.algorithms
        : withSecret
          ? DEFAULT_HMAC_ALGORITHMS
          : DEFAULT_JWKS_ALGORITHMS);
    checkAlgorithms(algorithms, withSecret);
    return {
      issuer: fields.issuer,
      audience: fields.audience,
      algorithms: [...new Set(algorithms)],
      clockTolerance: fields.clockTolerance ?? current?.clockTolerance ?? DEFAULT_CLOCK_TOLERANCE_SECONDS,
      jwksUrl,
      sealedSecret,
    };
  }

  async function webhookSettings(
    sourceId: string,
    fields: WebhookSourceFields,
    current?: WebhookSourceSettings,
  ): Promise<WebhookSourceSettings> {
    const headers =
      fields.headers === undefined
        ? { headerNames: current?.headerNames ?? [], sealedHeaders: current?.sealedHeaders ?? null }
        : await sealHeaders(sourceId, fields.headers);
    return {
      url: fields.url,
      body:
        fields.body === undefined ? (current?.body ?? DEFAULT_WEBHOOK_BODY) : checkBodyTemplate(fields.body),
      ...headers,
      timeoutMs: fields.timeoutMs ?? current?.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS,
      principalPath: checkPath(
        fields.principalPath ?? current?.principalPath ?? DEFAULT_PRINCIPAL_PATH,
        'principal_path',
      ),
      attributesPath: checkPath(
        fields.attributesPath ?? current?.attributesPath ?? DEFAULT_ATTRIBUTES_PATH,
        'attributes_path',
      ),
      successPath:
        fields.successPath === undefined
          ? (current?.successPath ?? null)
          : fields.successPath === null
            ? null
            : checkPath(fields.successPath, 'success_path'),
      successValues: fields.successValues ?? [...webhookSuccessRule(current ?? {}).values],
    };
  }

  return {
    async create(
      actor: Actor,
      namespaceName: string,
      brokerName: string,
      input: IdentitySourceInput,
    ): Promise<IdentitySourceView> {
      const { namespace, broker } = await access(actor, namespaceName, brokerName, 'write');
      const aclTemplate = checkAclTemplate(input.aclTemplate);
      const id = newId();
      const now = clock();
      const common = {
        id,
        brokerId: broker.id,
        name: input.name,
        aclTemplate,
        createdAt: now,
        modifiedAt: now,
      };
      const source: IdentitySourceRecord =
        input.kind === 'jwt'
          ? { ...common, kind: 'jwt', settings: await jwtSettings(id, input) }
          : { ...common, kind: 'webhook', settings: await webhookSettings(id, input) };
      const view = toView(namespace, broker)(source);
      const audit = brokerEvent(
        'identity_source.create',
        actor.keyId,
        now,
        { namespace, broker },
        {
          id,
          name: source.name,
          ...auditedSource(view),
        },
      );
      if (!(await store.insertIdentitySource(source, audit))) {
        throw new ServiceError(
          'conflict',
          `an identity source named '${input.name}' already exists for this broker`,
          'name',
        );
      }
      return view;
    },

    async list(
      actor: Actor,
      namespaceName: string,
      brokerName: string,
      page: PageRequest,
    ): Promise<PageResult<IdentitySourceView>> {
      const { namespace, broker } = await access(actor, namespaceName, brokerName, 'read');
      const paged = await store.listIdentitySources(broker.id, toStorePage(page));
      return mapPage(page, paged, toView(namespace, broker));
    },

    async get(actor: Actor, namespaceName: string, brokerName: string, name: string) {
      const { namespace, broker } = await access(actor, namespaceName, brokerName, 'read');
      return toView(namespace, broker)(await find(broker, name));
    },

    async update(
      actor: Actor,
      namespaceName: string,
      brokerName: string,
      name: string,
      changes: IdentitySourceUpdate,
    ): Promise<IdentitySourceView> {
      const { namespace, broker } = await access(actor, namespaceName, brokerName, 'write');
      const source = await find(broker, name);
      const foreign = source.kind === 'jwt' ? webhookFields : jwtFields;
      const misplaced = foreign.find((field) => changes[field] !== undefined);
      if (misplaced) {
        throw invalid(`${wire[misplaced]} does not apply to a ${source.kind} source`, wire[misplaced]);
      }
      const aclTemplate = changes.aclTemplate && checkAclTemplate(changes.aclTemplate);
      const settings =
        source.kind === 'jwt'
          ? await jwtSettings(
              source.id,
              {
                issuer: changes.issuer ?? source.settings.issuer,
                audience: changes.audience ?? source.settings.audience,
                ...definedOnly(changes, ['jwksUrl', 'secret', 'algorithms', 'clockTolerance']),
              },
              source.settings,
            )
          : await webhookSettings(
              source.id,
              {
                url: changes.url ?? source.settings.url,
                ...definedOnly(changes, [
                  'body',
                  'headers',
                  'timeoutMs',
                  'principalPath',
                  'attributesPath',
                  'successPath',
                  'successValues',
                ]),
              },
              source.settings,
            );
      const now = clock();
      const view = toView(namespace, broker);
      const next = { ...source, settings, ...(aclTemplate ? { aclTemplate } : {}) } as IdentitySourceRecord;
      const audit = brokerEvent(
        'identity_source.update',
        actor.keyId,
        now,
        { namespace, broker },
        {
          name: source.name,
          changes: changedFields(auditedSource(view(source)), auditedSource(view(next))),
          // Sealed values are never recorded, nor compared: that they were set again is all the trail says.
          secrets_replaced: (['secret', 'headers'] as const).filter((field) => changes[field] !== undefined),
        },
      );
      const updated = await store.updateIdentitySource(
        source.id,
        { settings, ...(aclTemplate ? { aclTemplate } : {}), modifiedAt: now },
        audit,
      );
      if (!updated) throw notFound('identity source');
      return view(updated);
    },

    async delete(actor: Actor, namespaceName: string, brokerName: string, name: string): Promise<void> {
      const { namespace, broker } = await access(actor, namespaceName, brokerName, 'write');
      const source = await find(broker, name);
      await store.deleteIdentitySource(
        source.id,
        brokerEvent(
          'identity_source.delete',
          actor.keyId,
          clock(),
          { namespace, broker },
          {
            id: source.id,
            name: source.name,
            kind: source.kind,
          },
        ),
      );
    },
  };
}

/** The given fields of `changes` among `fields`, so a merge never overwrites a setting with undefined. */
function definedOnly<K extends keyof IdentitySourceUpdate>(
  changes: IdentitySourceUpdate,
  fields: readonly K[],
): Partial<Pick<IdentitySourceUpdate, K>> {
  return Object.fromEntries(
    fields.filter((field) => changes[field] !== undefined).map((field) => [field, changes[field]]),
  ) as Partial<Pick<IdentitySourceUpdate, K>>;
}

export type IdentitySourceService = ReturnType<typeof createIdentitySourceService>;
