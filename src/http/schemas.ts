// Wire schemas: request validation and the OpenAPI components, in Cloudflare Pub/Sub's field naming.
import { z } from '@hono/zod-openapi';
import { CLAIM_PROFILES } from '../core/claim-profiles.js';
import {
  aclFromFilters,
  clientIdSchema,
  DEFAULT_MAX_CLIENT_ID_LENGTH,
  MAX_CLIENT_ID_LENGTH,
  MAX_FILTERS_PER_DIRECTION,
  MIN_MAX_CLIENT_ID_LENGTH,
  SIGNING_ALGORITHMS,
  topicAclSchema,
  topicFilterSchema,
} from '../core/claims.js';
import { MAX_EXPIRATION_SECONDS, NO_EXPIRATION } from '../core/expiration.js';
import { resourceNameSchema } from '../core/names.js';
import { KEY_PREPUBLICATION_SECONDS, MIN_KEY_ROTATION_PERIOD_SECONDS } from '../core/signing-keys.js';
import { type IssueRequest, MAX_CREDENTIALS_PER_CALL } from '../service/credentials.js';
import { MAX_FEED_CHANGES, MAX_REVOCATIONS_PER_CALL } from '../service/revocations.js';
import { queryTopicFilterSchema } from './query-filters.js';

// ---- building blocks

/** A decimal integer in a query string: no exponents, blanks or fractions sneaking through coercion. */
function integerParameter(min: number, max: number) {
  return z
    .string()
    .regex(/^-?\d{1,16}$/, 'must be an integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
}

/** A query parameter that may be repeated (`?a=1&a=2`); always an array after parsing. */
function repeatable(item: z.ZodType<string, string>, max: number) {
  return z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((value) => (value === undefined ? [] : [value].flat()))
    .pipe(z.array(item).max(max, `at most ${max} values`));
}

const expirationSeconds = z
  .number()
  .int()
  .min(NO_EXPIRATION)
  .max(MAX_EXPIRATION_SECONDS)
  .refine((value) => value !== 0, 'must be a positive number of seconds, or -1 for no expiry');

const jtiSchema = z
  .string()
  .regex(/^[0-9A-Za-z_.:-]{1,128}$/, 'a jti is 1 to 128 characters of [0-9A-Za-z_.:-]');

export const timestamp = (ms: number) => new Date(ms).toISOString();

/** A UTF-16 surrogate not paired with its other half (the `u` flag reads a valid pair as one code point). */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * JSON escapes (`"\ud800"`) can carry lone surrogates, which UTF-8 cannot encode: SQLite would store U+FFFD
 * in their place and MQTT forbids them in topic filters (MQTT 5 §1.5.4). Refuses them anywhere in a body.
 * Recursive: bodies reach it only after `limitJsonDepth` has bounded their depth.
 */
export function wellFormedStrings(
  value: unknown,
  ctx: z.RefinementCtx,
  path: (string | number)[] = [],
): void {
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) {
      ctx.addIssue({ code: 'custom', path, message: 'must be well-formed Unicode (no lone surrogates)' });
    }
  } else if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) wellFormedStrings(item, ctx, [...path, i]);
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) wellFormedStrings(item, ctx, [...path, key]);
  }
}

// ---- path parameters

export const NamespaceParams = z.object({
  namespace: resourceNameSchema.meta({ param: { name: 'namespace', in: 'path' }, example: 'home' }),
});
export const BrokerParams = NamespaceParams.extend({
  broker: resourceNameSchema.meta({ param: { name: 'broker', in: 'path' }, example: 'sensors' }),
});
export const SigningKeyParams = BrokerParams.extend({
  kid: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,128}$/, 'a kid is 1 to 128 base64url characters')
    .openapi({ param: { name: 'kid', in: 'path' }, example: 'Ck6ut4W1g3sjzpAo3bVnDSMWXoubcTdxxLyuJTMrLiY' }),
});
export const AdminKeyParams = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' } }),
});

export const PageQuery = z.strictObject({
  page: integerParameter(1, 1_000_000).optional().default(1),
  per_page: integerParameter(1, 100).optional().default(50),
});

// ---- resources

export const TopicAcl = topicAclSchema.meta({
  id: 'TopicAcl',
  description:
    '`"#"` allows every topic in both directions; otherwise MQTT topic filters per direction (`+` one level, `#` the rest).',
  example: { pub: ['devices/d1/out/#'], sub: ['devices/d1/in/+'] },
});

export const Namespace = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    created_on: z.string(),
    modified_on: z.string(),
  })
  .openapi('Namespace');

export const NamespaceCreate = z
  .strictObject({ name: resourceNameSchema, description: z.string().max(1024).optional() })
  .superRefine((body, ctx) => wellFormedStrings(body, ctx))
  .openapi('NamespaceCreate');
export const NamespaceUpdate = z
  .strictObject({ description: z.string().max(1024) })
  .superRefine((body, ctx) => wellFormedStrings(body, ctx))
  .openapi('NamespaceUpdate');

export const NamespaceDeleteQuery = z.strictObject({
  force: z
    .enum(['true', 'false'])
    .optional()
    .transform((value) => value === 'true')
    .openapi({ description: 'true: delete the namespace’s brokers and scoped admin keys with it' }),
});

export const Broker = z
  .object({
    id: z.string(),
    name: z.string(),
    namespace: z.string(),
    description: z.string(),
    auth_type: z.literal('TOKEN'),
    expiration: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'Seconds a credential lives; null: no `exp`' }),
    algorithm: z.enum(SIGNING_ALGORITHMS),
    default_topic_acl: TopicAcl,
    issuer: z.string(),
    audience: z.string(),
    key_rotation_period: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'Seconds after which the signing key is replaced; null: never' }),
    claim_profile: z.enum(CLAIM_PROFILES).openapi({
      description:
        'Extra claims for a broker’s own JWT authenticator: `standard` (none), `emqx` (`acl`), `tbmq` (client type and rule claims)',
    }),
    max_lifetime: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'Seconds a credential may live from its first issue, across refreshes' }),
    max_client_id_length: z
      .number()
      .int()
      .openapi({
        description:
          'The longest client id issued for this broker, caller-chosen or templated by a token exchange ' +
          `(default ${DEFAULT_MAX_CLIENT_ID_LENGTH})`,
      }),
    created_on: z.string(),
    modified_on: z.string(),
  })
  .openapi('Broker');

const brokerSettings = {
  description: z.string().max(1024).optional(),
  expiration: z.number().int().min(1).max(MAX_EXPIRATION_SECONDS).nullable().optional(),
  default_topic_acl: topicAclSchema.optional(),
  issuer: z.string().min(1).max(256).optional(),
  audience: z.string().min(1).max(256).optional(),
  key_rotation_period: z
    .number()
    .int()
    .min(MIN_KEY_ROTATION_PERIOD_SECONDS)
    .max(MAX_EXPIRATION_SECONDS)
    .nullable()
    .optional()
    .openapi({
      description: `Seconds, at least ${MIN_KEY_ROTATION_PERIOD_SECONDS}: each key is published that long before it signs`,
    }),
  claim_profile: z.enum(CLAIM_PROFILES).optional().openapi({
    description:
      '`standard` (default), `emqx` or `tbmq`; `emqx` and `tbmq` need ES256 (their default) and an expiration or max_lifetime',
  }),
  max_lifetime: z.number().int().min(1).max(MAX_EXPIRATION_SECONDS).nullable().optional(),
  max_client_id_length: z
    .number()
    .int()
    .min(MIN_MAX_CLIENT_ID_LENGTH)
    .max(MAX_CLIENT_ID_LENGTH)
    .optional()
    .openapi({
      description: `${MIN_MAX_CLIENT_ID_LENGTH} (a generated id) to ${MAX_CLIENT_ID_LENGTH}; default ${DEFAULT_MAX_CLIENT_ID_LENGTH}`,
    }),
};

export const BrokerCreate = z
  .strictObject({
    name: resourceNameSchema,
    auth_type: z.literal('TOKEN').optional(),
    algorithm: z.enum(SIGNING_ALGORITHMS).optional(),
    ...brokerSettings,
  })
  .superRefine((body, ctx) => wellFormedStrings(body, ctx))
  .openapi('BrokerCreate');
export const BrokerUpdate = z
  .strictObject(brokerSettings)
  .superRefine((body, ctx) => wellFormedStrings(body, ctx))
  .openapi('BrokerUpdate');

export const Credentials = z.record(z.string(), z.string()).openapi('Credentials', {
  description: 'Client ID -> signed JWT (the MQTT password)',
  example: { '01JDX4Q3N8T7K9ZC5V2M6B1R0A': 'eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiIsInR5cCI6IkpXVCJ9...' },
});

export const CredentialDetails = z
  .array(
    z.object({
      client_id: z.string(),
      token: z.string().openapi({ description: 'The signed JWT (the MQTT password)' }),
      jti: z.string().openapi({ description: 'The handle to revoke it by' }),
      exp: z.number().int().nullable().openapi({ description: 'Expiry (epoch seconds); null: no `exp`' }),
    }),
  )
  .openapi('CredentialDetails', {
    description: 'With `detail=true`: one entry per credential, in request order',
  });

export const Revocation = z
  .object({
    jti: z.string(),
    revoked_on: z.string(),
    expires_on: z.string().nullable(),
    descendant_of: z
      .string()
      .nullable()
      .openapi({
        description:
          'Revoked because this jti was revoked by name (the credential was refreshed from it); ' +
          'un-revoking that jti un-revokes this one. null: revoked by name or by a refresh',
      }),
  })
  .openapi('Revocation');

export const JsonWebKeySet = z
  .object({
    keys: z.array(
      z.object({
        kty: z.string(),
        crv: z.string().optional(),
        x: z.string().optional(),
        y: z.string().optional(),
        kid: z.string(),
        alg: z.string(),
        use: z.literal('sig'),
      }),
    ),
  })
  .openapi('JsonWebKeySet');

const time = z.string().openapi({ description: 'ISO 8601' });

export const SigningKey = z
  .object({
    kid: z.string().openapi({ description: 'RFC 7638 thumbprint of the public key' }),
    algorithm: z.enum(SIGNING_ALGORITHMS),
    state: z.enum(['next', 'current', 'retired', 'revoked']).openapi({
      description:
        '`next`: published, signs from the next rotation; `current`: signs; `retired`: published until `remove_after`; `revoked`: out of the key set',
    }),
    published_on: time,
    ready_on: time.nullable().openapi({
      description: `The next key: when it may sign, ${KEY_PREPUBLICATION_SECONDS} s after publication`,
    }),
    activated_on: time.nullable(),
    retired_on: time.nullable(),
    remove_after: time.nullable().openapi({
      description: 'A retired key: published until then, when the last token it signed has expired',
    }),
    revoked_on: time.nullable(),
  })
  .openapi('SigningKey');

export const AdminKey = z
  .object({
    id: z.string(),
    name: z.string(),
    hint: z.string().openapi({ description: 'The last characters of the key' }),
    namespace: z.string().nullable(),
    permission: z.enum(['read', 'write', 'exchange']),
    created_on: z.string(),
    created_by: z.string().nullable(),
  })
  .openapi('AdminKey');
export const AdminKeyCreated = AdminKey.extend({
  key: z.string().openapi({ description: 'The secret: shown once, never again' }),
}).openapi('AdminKeyCreated');
export const AdminKeyCreate = z
  .strictObject({
    name: z.string().min(1).max(128),
    namespace: resourceNameSchema.optional(),
    permission: z.enum(['read', 'write', 'exchange']).default('write'),
  })
  .superRefine((body, ctx) => wellFormedStrings(body, ctx))
  .openapi('AdminKeyCreate');

// ---- credentials requests

function toIssueRequest(
  fields: {
    number?: number | undefined;
    clientid: string[];
    topicAcl?: string[] | z.infer<typeof topicAclSchema> | undefined;
    pub: string[];
    sub: string[];
    expiration?: number | undefined;
  },
  ctx: z.RefinementCtx,
): IssueRequest {
  const { number = 1, clientid, pub, sub, expiration } = fields;
  if (new Set(clientid).size !== clientid.length) {
    ctx.addIssue({ code: 'custom', path: ['clientid'], message: 'client ids must be unique' });
  }
  let topicAcl: z.infer<typeof topicAclSchema> | undefined;
  if (fields.topicAcl !== undefined && !Array.isArray(fields.topicAcl)) {
    if (pub.length > 0 || sub.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['topicAcl'],
        message: 'give topicAcl as an object or pub/sub lists',
      });
    }
    topicAcl = fields.topicAcl;
  } else {
    topicAcl = aclFromFilters(fields.topicAcl ?? [], pub, sub);
    if (
      typeof topicAcl === 'object' &&
      (topicAcl.pub.length > MAX_FILTERS_PER_DIRECTION || topicAcl.sub.length > MAX_FILTERS_PER_DIRECTION)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['topicAcl'],
        message: `at most ${MAX_FILTERS_PER_DIRECTION} filters per direction`,
      });
    }
  }
  return {
    number,
    ...(clientid.length > 0 ? { clientIds: clientid } : {}),
    ...(topicAcl === undefined ? {} : { topicAcl }),
    ...(expiration === undefined ? {} : { expiration }),
  };
}

const credentialType = z.literal('TOKEN').optional();

const detailDescription =
  'true: answer with client id, token, jti and exp per credential instead of the client id -> token map';

/** `detail=true|false` in a query string. */
const detailParameter = z
  .enum(['true', 'false'])
  .transform((value) => value === 'true')
  .optional()
  .openapi({ description: detailDescription });

/** POST's query string: only `detail` (the request itself is the JSON body). */
export const DetailQuery = z.strictObject({ detail: detailParameter });

export const CredentialsQuery = z
  .strictObject({
    number: integerParameter(1, MAX_CREDENTIALS_PER_CALL).optional(),
    type: credentialType,
    clientid: repeatable(clientIdSchema, MAX_CREDENTIALS_PER_CALL),
    topicAcl: repeatable(queryTopicFilterSchema, MAX_FILTERS_PER_DIRECTION),
    pub: repeatable(queryTopicFilterSchema, MAX_FILTERS_PER_DIRECTION),
    sub: repeatable(queryTopicFilterSchema, MAX_FILTERS_PER_DIRECTION),
    expiration: integerParameter(NO_EXPIRATION, MAX_EXPIRATION_SECONDS).pipe(expirationSeconds).optional(),
    detail: detailParameter,
  })
  .transform(({ type: _, detail = false, ...fields }, ctx) => ({ ...toIssueRequest(fields, ctx), detail }));

export const CredentialsBody = z
  .strictObject({
    number: z.number().int().min(1).max(MAX_CREDENTIALS_PER_CALL).optional(),
    type: credentialType,
    clientid: z.array(clientIdSchema).max(MAX_CREDENTIALS_PER_CALL).optional(),
    topicAcl: z.union([topicAclSchema, z.array(topicFilterSchema).max(MAX_FILTERS_PER_DIRECTION)]).optional(),
    pub: z.array(topicFilterSchema).max(MAX_FILTERS_PER_DIRECTION).optional(),
    sub: z.array(topicFilterSchema).max(MAX_FILTERS_PER_DIRECTION).optional(),
    expiration: expirationSeconds.optional(),
    detail: z.boolean().optional().openapi({ description: detailDescription }),
  })
  .superRefine((body, ctx) => wellFormedStrings(body, ctx))
  .openapi('CredentialsRequest')
  .transform(({ type: _, clientid = [], pub = [], sub = [], detail = false, ...fields }, ctx) => ({
    ...toIssueRequest({ ...fields, clientid, pub, sub }, ctx),
    detail,
  }));

// ---- revocation requests

/** `jti=A&jti=B` or `jti=A,B`. */
export const JtiQuery = z.strictObject({
  jti: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((value) => (value === undefined ? [] : [value].flat().flatMap((item) => item.split(','))))
    .pipe(
      z.array(jtiSchema).max(MAX_REVOCATIONS_PER_CALL, `at most ${MAX_REVOCATIONS_PER_CALL} jti per call`),
    ),
});

export const RevocationListQuery = PageQuery.extend({
  since: integerParameter(0, Number.MAX_SAFE_INTEGER)
    .optional()
    .openapi({ description: 'A feed cursor (0: from the beginning): returns changes instead of the list' }),
  limit: integerParameter(1, MAX_FEED_CHANGES)
    .optional()
    .openapi({ description: `With since: most changes per response (default ${MAX_FEED_CHANGES})` }),
});

export const RevocationFeed = z
  .object({
    changes: z.array(
      z.object({
        jti: z.string(),
        revoked: z.boolean().openapi({ description: 'false: un-revoked' }),
        exp: z.number().int().nullable().openapi({ description: 'The token’s exp (seconds), when known' }),
      }),
    ),
    cursor: z.string().openapi({ description: 'Pass back as `since`' }),
    more: z.boolean().openapi({ description: 'More changes are waiting: ask again at once' }),
  })
  .openapi('RevocationFeed');

export const JtiBody = z
  .strictObject({ jti: z.array(jtiSchema).min(1).max(MAX_REVOCATIONS_PER_CALL) })
  .openapi('RevocationRequest');

// ---- envelopes

const ApiErrorSchema = z
  .object({
    code: z.number().int(),
    message: z.string(),
    error: z.string().openapi({ description: 'Stable error name, e.g. invalid_input, not_found' }),
    field: z.string().optional(),
  })
  .openapi('ApiError');

export const ErrorEnvelope = z
  .object({
    success: z.literal(false),
    errors: z.array(ApiErrorSchema),
    messages: z.array(z.string()),
    result: z.null(),
  })
  .openapi('ErrorEnvelope');

const ResultInfo = z
  .object({ page: z.number(), per_page: z.number(), count: z.number(), total_count: z.number() })
  .openapi('ResultInfo');

/** `paged`: the result is a page, with `result_info`; 'sometimes': only for some queries. */
export type Paging = boolean | 'sometimes';

export function envelope<T extends z.ZodType>(result: T, paged: Paging = false) {
  return z.object({
    success: z.literal(true),
    errors: z.array(ApiErrorSchema),
    messages: z.array(z.string()),
    result,
    ...(paged === true
      ? { result_info: ResultInfo }
      : paged === 'sometimes'
        ? { result_info: ResultInfo.optional() }
        : {}),
  });
}
