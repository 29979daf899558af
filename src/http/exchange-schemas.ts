// Wire schemas of identity sources and token exchange (RFC 8693 field names), with their JSON views.
import { z } from '@hono/zod-openapi';
import { MAX_FILTERS_PER_DIRECTION } from '../core/claims.js';
import { MAX_EXPIRATION_SECONDS } from '../core/expiration.js';
import { resourceNameSchema } from '../core/names.js';
import {
  DEFAULT_ATTRIBUTES_PATH,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_PRINCIPAL_PATH,
  DEFAULT_SUCCESS_VALUES,
  DEFAULT_WEBHOOK_TIMEOUT_MS,
  HEADER_VALUE,
  type IdentitySourceView,
  JWT_ALGORITHMS,
  MAX_CLOCK_TOLERANCE_SECONDS,
  MAX_HEADER_VALUE_LENGTH,
  MAX_SUCCESS_VALUES,
  MAX_WEBHOOK_TIMEOUT_MS,
  MIN_WEBHOOK_TIMEOUT_MS,
  WEBHOOK_PLACEHOLDERS,
} from '../service/identity-sources.js';
import { JWT_TOKEN_TYPE, SUBJECT_TOKEN_TYPES, TOKEN_EXCHANGE_GRANT_TYPE } from '../service/token-exchange.js';
import { BrokerParams, timestamp, wellFormedStrings } from './schemas.js';

// ---- building blocks

const MAX_URL_LENGTH = 2048;
const MAX_HEADERS = 20;
/** Set by gatepass itself, or meaningful only to the connection. */
const RESERVED_HEADERS = new Set([
  'accept',
  'connection',
  'content-length',
  'content-type',
  'expect',
  'host',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function httpUrlProblem(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return true;
  }
  return (
    !(url.protocol === 'https:' || url.protocol === 'http:') || url.username !== '' || url.password !== ''
  );
}

export const httpUrl = z
  .string()
  .max(MAX_URL_LENGTH)
  .refine((value) => !httpUrlProblem(value), 'must be an http(s) URL without credentials in it');

const headerName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, 'must be an HTTP header name')
  .refine((name) => !RESERVED_HEADERS.has(name.toLowerCase()), 'gatepass sets this header itself');
const headerValue = z
  .string()
  .max(MAX_HEADER_VALUE_LENGTH, `must be at most ${MAX_HEADER_VALUE_LENGTH} characters`)
  .regex(HEADER_VALUE, 'must be visible ASCII');

const jsonPath = z.string().max(1100).openapi({
  description: '`$`, then up to 16 steps `.name` (letters, digits, `_`, `-`) or `[index]`: `$.data[0].id`',
});

const jsonScalar = z.union([z.string().max(256), z.number(), z.boolean()]);
const placeholderList = WEBHOOK_PLACEHOLDERS.map((name) => `\`\${${name}}\``).join(', ');

const filterTemplates = z.array(z.string().min(1).max(1024)).max(MAX_FILTERS_PER_DIRECTION);

export const AclTemplateSchema = z
  .strictObject({
    client_id: z
      .string()
      .min(1)
      .max(256)
      .optional()
      .openapi({
        description:
          'Default `${sub}`; must expand to a client id: 1 to the broker’s `max_client_id_length` characters, ' +
          'ASCII letters, digits and `- _ . @ : |`',
      }),
    pub: filterTemplates,
    sub: filterTemplates,
  })
  .openapi('AclTemplate', {
    description:
      'Topic filter templates: `${sub}` (the principal) and `${attributes.a.b}` (claims or webhook attributes), ' +
      'each filling a whole topic level.',
    example: {
      client_id: '${sub}',
      pub: ['users/${sub}/out/#'],
      sub: ['users/${sub}/in/#', 'teams/${attributes.team}/#'],
    },
  });

const audience = z.union([z.string().min(1).max(512), z.array(z.string().min(1).max(512)).min(1).max(10)]);

const jwtFields = {
  issuer: z.string().min(1).max(512).openapi({ description: 'The `iss` the tokens carry, exactly' }),
  audience: audience.openapi({ description: 'The `aud` a token must carry (one of them, for a list)' }),
  jwks_url: httpUrl
    .optional()
    .openapi({ description: 'Where the issuer publishes its keys (asymmetric algorithms)' }),
  secret: z
    .string()
    .min(32)
    .max(1024)
    .optional()
    .openapi({ description: 'A shared HMAC secret (HS256/384/512), e.g. a Supabase JWT secret; write-only' }),
  algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).max(JWT_ALGORITHMS.length).optional().openapi({
    description: 'Accepted `alg` values; default RS256, ES256, EdDSA (jwks_url) or HS256 (secret)',
  }),
  clock_tolerance: z
    .number()
    .int()
    .min(0)
    .max(MAX_CLOCK_TOLERANCE_SECONDS)
    .optional()
    .openapi({ description: `Seconds of clock skew allowed (default ${DEFAULT_CLOCK_TOLERANCE_SECONDS})` }),
};

const webhookFields = {
  url: httpUrl.openapi({ description: 'Called with POST and the filled body; redirects are not followed' }),
  body: z
    .record(z.string(), z.unknown())
    .optional()
    .openapi({
      description:
        `JSON template, at most 8 levels deep; ${placeholderList} in string values are replaced by the ` +
        'request’s values (JSON-escaped as strings). Default: username, password, clientid and peerhost under ' +
        'their own names.',
    }),
  headers: z
    .record(headerName, headerValue)
    .refine((headers) => Object.keys(headers).length <= MAX_HEADERS, `at most ${MAX_HEADERS} headers`)
    .optional()
    .openapi({
      description:
        `Sent with every call; values may hold the same placeholders as \`body\` (${placeholderList}) and are ` +
        'write-only (sealed at rest, never returned)',
    }),
  timeout_ms: z
    .number()
    .int()
    .min(MIN_WEBHOOK_TIMEOUT_MS)
    .max(MAX_WEBHOOK_TIMEOUT_MS)
    .optional()
    .openapi({ description: `Deadline for the whole call (default ${DEFAULT_WEBHOOK_TIMEOUT_MS})` }),
  principal_path: jsonPath.optional().openapi({ description: `Default \`${DEFAULT_PRINCIPAL_PATH}\`` }),
  attributes_path: jsonPath.optional().openapi({ description: `Default \`${DEFAULT_ATTRIBUTES_PATH}\`` }),
  success_path: jsonPath
    .nullable()
    .optional()
    .openapi({
      description:
        'Where a 2xx answer says it vouches: the value there must be one of `success_values`. Default (null): ' +
        '`$.result`, when the answer has a `result` member (as FlowMQ and EMQX webhooks answer); an answer ' +
        'without one vouches by its status alone.',
    }),
  success_values: z
    .array(jsonScalar)
    .min(1)
    .max(MAX_SUCCESS_VALUES)
    .optional()
    .openapi({
      description: `Accepted values at the success path, compared exactly (\`true\` is not \`"true"\`). Default ${JSON.stringify(DEFAULT_SUCCESS_VALUES)}`,
    }),
};

// ---- identity sources

export const IdentitySourceParams = BrokerParams.extend({
  name: resourceNameSchema.meta({ param: { name: 'name', in: 'path' }, example: 'supabase' }),
});

export const IdentitySourceCreate = z
  .discriminatedUnion('kind', [
    z.strictObject({
      name: resourceNameSchema,
      kind: z.literal('jwt'),
      ...jwtFields,
      acl_template: AclTemplateSchema,
    }),
    z.strictObject({
      name: resourceNameSchema,
      kind: z.literal('webhook'),
      ...webhookFields,
      acl_template: AclTemplateSchema,
    }),
  ])
  .superRefine((body, ctx) => wellFormedStrings(body, ctx))
  .openapi('IdentitySourceCreate');

export const IdentitySourceUpdate = z
  .strictObject({
    ...jwtFields,
    issuer: jwtFields.issuer.optional(),
    audience: jwtFields.audience.optional(),
    ...webhookFields,
    url: webhookFields.url.optional(),
    acl_template: AclTemplateSchema.optional(),
  })
  .superRefine((body, ctx) => wellFormedStrings(body, ctx))
  .openapi('IdentitySourceUpdate', {
    description:
      'Fields of the source’s own kind. Giving `secret` or `jwks_url` switches a JWT source to it.',
  });

const aclTemplateView = z.object({
  client_id: z.string(),
  pub: z.array(z.string()),
  sub: z.array(z.string()),
});
const sourceCommon = {
  id: z.string(),
  name: z.string(),
  namespace: z.string(),
  broker: z.string(),
  acl_template: aclTemplateView,
  created_on: z.string(),
  modified_on: z.string(),
};

export const IdentitySource = z
  .discriminatedUnion('kind', [
    z.object({
      ...sourceCommon,
      kind: z.literal('jwt'),
      issuer: z.string(),
      audience,
      algorithms: z.array(z.string()),
      clock_tolerance: z.number().int(),
      jwks_url: z.string().nullable(),
      has_secret: z
        .boolean()
        .openapi({ description: 'Whether a shared secret is set (it is never returned)' }),
    }),
    z.object({
      ...sourceCommon,
      kind: z.literal('webhook'),
      url: z.string(),
      body: z.unknown(),
      headers: z
        .array(z.string())
        .openapi({ description: 'Names of the headers sent; values are never returned' }),
      timeout_ms: z.number().int(),
      principal_path: z.string(),
      attributes_path: z.string(),
      success_path: z.string().nullable(),
      success_values: z.array(jsonScalar),
    }),
  ])
  .openapi('IdentitySource');

export function identitySourceJson(source: IdentitySourceView) {
  const common = {
    id: source.id,
    name: source.name,
    namespace: source.namespace,
    broker: source.broker,
    acl_template: {
      client_id: source.aclTemplate.clientId,
      pub: source.aclTemplate.pub,
      sub: source.aclTemplate.sub,
    },
    created_on: timestamp(source.createdAt),
    modified_on: timestamp(source.modifiedAt),
  };
  if (source.kind === 'jwt') {
    const { issuer, audience, algorithms, clockTolerance, jwksUrl, hasSecret } = source.settings;
    return {
      ...common,
      kind: 'jwt' as const,
      issuer,
      audience,
      algorithms,
      clock_tolerance: clockTolerance,
      jwks_url: jwksUrl,
      has_secret: hasSecret,
    };
  }
  const { url, body, headers, timeoutMs, principalPath, attributesPath, successPath, successValues } =
    source.settings;
  return {
    ...common,
    kind: 'webhook' as const,
    url,
    body,
    headers,
    timeout_ms: timeoutMs,
    principal_path: principalPath,
    attributes_path: attributesPath,
    success_path: successPath,
    success_values: successValues,
  };
}

// ---- token exchange

const credentialField = (description: string) => z.string().max(1024).optional().openapi({ description });

export const TokenExchangeRequest = z
  .strictObject({
    grant_type: z.literal(TOKEN_EXCHANGE_GRANT_TYPE).optional().openapi({ description: 'RFC 8693 §2.1' }),
    subject_token: z
      .string()
      .min(1)
      .max(16_384)
      .optional()
      .openapi({ description: 'A JWT from a trusted issuer (JWT sources)' }),
    subject_token_type: z
      .enum(SUBJECT_TOKEN_TYPES)
      .optional()
      .openapi({ description: `Default \`${JWT_TOKEN_TYPE}\`; the token is verified as a JWT either way` }),
    requested_token_type: z.literal(JWT_TOKEN_TYPE).optional(),
    identity_source: resourceNameSchema.optional().openapi({
      description: 'Required for webhook sources; for JWTs, default: the sources trusting its `iss`',
    }),
    username: credentialField('Webhook sources: `${username}`'),
    password: credentialField('Webhook sources: `${password}`'),
    clientid: credentialField('Webhook sources: `${clientid}`'),
    peerhost: credentialField('Webhook sources: `${peerhost}`'),
    protocol: credentialField('Webhook sources: `${protocol}` (e.g. `mqtt`, `ws`)'),
    expiration: z.number().int().min(1).max(MAX_EXPIRATION_SECONDS).optional().openapi({
      description: 'Seconds; can only shorten the lifetime (an hour, or less by the broker’s limits)',
    }),
  })
  .superRefine((body, ctx) => {
    wellFormedStrings(body, ctx);
    if (body.subject_token_type !== undefined && body.subject_token === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['subject_token'],
        message: 'subject_token_type needs a subject_token',
      });
    }
  })
  .openapi('TokenExchangeRequest');

export const TokenExchangeResult = z
  .object({
    client_id: z.string().openapi({ description: 'The MQTT client ID the credential is bound to (`sub`)' }),
    token: z.string().openapi({ description: 'The credential: the MQTT password' }),
    jti: z.string(),
    expires_in: z.number().int().openapi({ description: 'Seconds' }),
    access_token: z.string().openapi({ description: 'RFC 8693 §2.2.1: the same credential' }),
    issued_token_type: z.literal(JWT_TOKEN_TYPE),
    token_type: z.literal('N_A').openapi({ description: 'RFC 8693 §2.2.1: not an OAuth access token' }),
  })
  .openapi('TokenExchangeResult');
