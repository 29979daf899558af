// Broker HTTP-auth webhooks (EMQX, RabbitMQ, mosquitto-go-auth): public, the presented token is the credential.
import { createRoute, type RouteConfig, z } from '@hono/zod-openapi';
import type { Context, Handler, MiddlewareHandler } from 'hono';
import type { Clock } from '../../core/clock.js';
import { notFound } from '../../core/errors.js';
import { createRateLimiter } from '../../core/rate-limit.js';
import { authenticateEmqx } from '../../verifier/adapters/emqx.js';
import {
  type GoAuthAnswer,
  goAuthAcl,
  goAuthSuperuser,
  goAuthUser,
} from '../../verifier/adapters/mosquitto-go-auth.js';
import type { RabbitMqAnswer, RabbitMqAuth, RabbitMqParams } from '../../verifier/adapters/rabbitmq.js';
import type { Api, AppEnv } from '../context.js';
import { renderFailure } from '../envelope.js';
import { BrokerParams, ErrorEnvelope } from '../schemas.js';

const tags = ['Broker webhooks'];
const base = '/namespaces/{namespace}/brokers/{broker}/hooks';

/** Far above any gatepass token, far below the body limit; the verifier refuses past 4,096 bytes anyway. */
const MAX_FIELD = 8192;

const field = (description: string) => z.string().max(MAX_FIELD).optional().openapi({ description });

const notFoundResponse = {
  description: 'No such namespace or broker (`not_found`)',
  content: { 'application/json': { schema: ErrorEnvelope } },
};
const rateLimitedResponse = {
  description: 'Too many requests from this address (`rate_limited`): retry after `Retry-After` seconds',
  content: { 'application/json': { schema: ErrorEnvelope } },
};

async function verificationFor(c: Context<AppEnv>, namespace: string, broker: string) {
  const verification = await c.var.services.brokerVerifiers.get(namespace, broker);
  if (verification === undefined) throw notFound('broker');
  return verification;
}

// --- EMQX 5 ----------------------------------------------------------------------------------------------

const EmqxAuthRequest = z
  .object({
    clientid: z.string().max(MAX_FIELD).nullish().openapi({
      description: '`${clientid}`: the token’s `sub`. Required: without it the answer is `deny`',
    }),
    username: z
      .string()
      .max(MAX_FIELD)
      .nullish()
      .openapi({ description: '`${username}`: empty, or the client id' }),
    password: z.string().max(MAX_FIELD).nullish().openapi({ description: '`${password}`: the token' }),
    peerhost: z.string().max(MAX_FIELD).nullish().openapi({ description: '`${peerhost}`: not checked' }),
  })
  .openapi('EmqxAuthRequest');

const EmqxAclRule = z
  .object({
    permission: z.enum(['allow', 'deny']),
    action: z.enum(['publish', 'subscribe', 'all']),
    topic: z.string(),
  })
  .openapi('EmqxAclRule');

const EmqxAuthResponse = z
  .object({
    result: z.enum(['allow', 'deny']),
    is_superuser: z.literal(false).optional(),
    expire_at: z.number().int().optional().openapi({ description: 'The token’s `exp` (epoch seconds)' }),
    acl: z
      .array(EmqxAclRule)
      .optional()
      .openapi({ description: 'The token’s topic ACL, then a rule denying everything else' }),
    client_attrs: z
      .record(z.string(), z.string())
      .optional()
      .openapi({ description: '`gatepass_sub` and `gatepass_jti`' }),
  })
  .openapi('EmqxAuthResponse');

const emqxShared = {
  path: `${base}/emqx`,
  tags,
  description:
    'What EMQX’s HTTP authenticator sends (configure its body template as in docs/brokers/emqx.md). ' +
    'Verifies the password as a gatepass credential of this broker, bound to `clientid`, exactly as the ' +
    'verifier library does, and answers `allow` with the token’s ACL as EMQX 5 authorization rules, ' +
    '`expire_at` and `client_attrs`, or `deny`: always status 200, for a malformed request or an unknown ' +
    'namespace or broker too (EMQX reads any other status as “ignore”, and would ask its next ' +
    'authenticator).',
  responses: {
    200: { description: 'The decision', content: { 'application/json': { schema: EmqxAuthResponse } } },
    429: {
      ...rateLimitedResponse,
      description: `${rateLimitedResponse.description}. EMQX treats it as “ignore”: the next authenticator in its chain decides`,
    },
  },
};

const emqxRoutes = {
  post: createRoute({
    ...emqxShared,
    method: 'post',
    summary: 'EMQX 5 HTTP authentication (no admin key: the password is the credential)',
    request: {
      params: BrokerParams,
      body: {
        required: true,
        content: {
          'application/json': { schema: EmqxAuthRequest },
          'application/x-www-form-urlencoded': { schema: EmqxAuthRequest },
        },
      },
    },
  }),
  get: createRoute({
    ...emqxShared,
    method: 'get',
    summary: 'EMQX 5 HTTP authentication, `method = get` (the body template’s fields in the query)',
    request: { params: BrokerParams, query: EmqxAuthRequest },
  }),
};

/** EMQX reads any status but 200 and 204 as “ignore”: every refusal is a 200 `deny`. */
function emqxDeny(c: Context<AppEnv>, reason: string) {
  c.set('refusal', reason);
  return c.json({ result: 'deny' as const }, 200);
}

// --- RabbitMQ (rabbitmq_auth_backend_http) --------------------------------------------------------------

const RabbitMqParamsSchema = z
  .object({
    username: field('The RabbitMQ username: the MQTT client id, which must be the token’s `sub`'),
    password: field('`user` only: the token'),
    client_id: field('Sent by the MQTT plugin: the MQTT client id'),
    vhost: field('The virtual host (not checked: tokens are not bound to one)'),
    ip: field('`vhost` only: the client address (not checked)'),
    tags: field('The user’s tags (ignored)'),
    resource: field('`resource`, `topic`: `exchange`, `queue` or `topic`'),
    name: field('`resource`, `topic`: the exchange or queue name'),
    permission: field('`resource`, `topic`: `configure`, `write` or `read`'),
    routing_key: field('`topic` only: the routing key (write) or binding key (read)'),
    'variable_map.client_id': field('`topic` only, from the MQTT plugin: the MQTT client id'),
    'variable_map.username': field('`topic` only: the username'),
    'variable_map.vhost': field('`topic` only: the virtual host'),
  })
  .openapi('RabbitMqAuthParams');

const rabbitAnswer = {
  description: '`allow` or `deny` (always status 200, as the plugin expects; malformed input is a `deny`)',
  content: { 'text/plain': { schema: z.enum(['allow', 'deny']) } },
};

type RabbitCheck = 'user' | 'vhost' | 'resource' | 'topic';

const rabbitDescriptions: Record<RabbitCheck, string> = {
  user:
    'Verifies `password` as a gatepass credential bound to `client_id` (or, for AMQP 0-9-1, to ' +
    '`username`), and remembers what it allows for the later checks of this login.',
  vhost: 'Allowed while the user has a live login (its token unexpired and unrevoked).',
  resource:
    'Read and write on the MQTT exchange (`amq.topic`); configure, read and write on the client’s own ' +
    'queues (`mqtt-subscription-<client id>qos0|qos1`) and on the server-named queues (`amq.gen-*`) this ' +
    'username declared (the first `configure` of one claims it); nothing else.',
  topic:
    'The routing key translated back to an MQTT topic (`.` separates levels; in bindings `*` is `+`), ' +
    'checked against the login’s token ACL: `write` as a publish, `read` as a subscription. Keys with `/` ' +
    'are denied.',
};

function rabbitRoutes(check: RabbitCheck) {
  const shared = {
    path: `${base}/rabbitmq/${check}`,
    tags,
    description: rabbitDescriptions[check],
    responses: { 200: rabbitAnswer, 404: notFoundResponse, 429: rateLimitedResponse },
  };
  return {
    get: createRoute({
      ...shared,
      method: 'get',
      summary: `RabbitMQ HTTP auth backend: ${check} check (auth_http.http_method = get)`,
      request: { params: BrokerParams, query: RabbitMqParamsSchema },
    }),
    post: createRoute({
      ...shared,
      method: 'post',
      summary: `RabbitMQ HTTP auth backend: ${check} check (auth_http.http_method = post)`,
      request: {
        params: BrokerParams,
        body: {
          required: true,
          content: { 'application/x-www-form-urlencoded': { schema: RabbitMqParamsSchema } },
        },
      },
    }),
  };
}

async function decideRabbit(rabbit: RabbitMqAuth, check: RabbitCheck, params: RabbitMqParams) {
  switch (check) {
    case 'user':
      return rabbit.user(params);
    case 'vhost':
      return rabbit.vhost(params);
    case 'resource':
      return rabbit.resource(params);
    case 'topic':
      return rabbit.topic(params);
    default: {
      const unknown: never = check;
      throw new Error(`unhandled check ${String(unknown)}`);
    }
  }
}

function rabbitReply(c: Context<AppEnv>, answer: RabbitMqAnswer) {
  if (answer.decision === 'deny') c.set('refusal', answer.reason);
  return c.text(answer.decision, 200);
}

// --- mosquitto-go-auth (HTTP backend) -----------------------------------------------------------------

const goAuthToken = z
  .string()
  .max(MAX_FIELD)
  .openapi({ description: 'The MQTT user name, which is the token' });
const goAuthClientId = z.string().max(MAX_FIELD).openapi({ description: 'Must be the token’s `sub`' });

const GoAuthUserRequest = z
  .object({
    username: goAuthToken.optional(),
    password: z.string().max(MAX_FIELD).optional().openapi({ description: 'Not read: clients send any' }),
    clientid: goAuthClientId.optional(),
  })
  .openapi('GoAuthUserRequest');

const GoAuthAclRequest = z
  .object({
    username: goAuthToken.optional(),
    topic: z.string().max(65_535).openapi({ description: 'Topic name, or filter for `acc` 4' }),
    clientid: goAuthClientId,
    acc: z
      .union([z.number().int(), z.string().regex(/^\d{1,2}$/)])
      .openapi({ description: '1 read, 2 write, 3 read and write, 4 subscribe' }),
  })
  .openapi('GoAuthAclRequest');

const GoAuthResponse = z.object({ ok: z.boolean(), error: z.string() }).openapi('GoAuthResponse', {
  description: 'What `http_response_mode json` reads; the status says the same',
});

const goAuthJson = (description: string) => ({
  description,
  content: { 'application/json': { schema: GoAuthResponse } },
});

const goAuthResponses = {
  200: goAuthJson('Allowed'),
  400: goAuthJson('Malformed request (no `clientid`; `acl`: no `topic` or known `acc`)'),
  401: goAuthJson('The token is refused'),
  403: goAuthJson('Not allowed: the ACL does not allow it, or any superuser check'),
  404: notFoundResponse,
  429: rateLimitedResponse,
  503: goAuthJson('Keys or revocations unavailable: retry'),
};

/** JSON (`http_params_mode json`) or form (`form`). */
const goAuthBody = (schema: z.ZodType) => ({
  required: true,
  content: {
    'application/json': { schema },
    'application/x-www-form-urlencoded': { schema },
  },
});

const goAuthRoutes = {
  user: createRoute({
    method: 'post',
    path: `${base}/mosquitto/user`,
    tags,
    summary: 'mosquitto-go-auth (HTTP backend): user check',
    description:
      'Verifies `username` (the token) as a CONNECT bound to `clientid`, so a token cannot connect under ' +
      'another client id. go-auth’s JWT backend sends no client id here and is not supported.',
    request: { params: BrokerParams, body: goAuthBody(GoAuthUserRequest) },
    responses: goAuthResponses,
  }),
  superuser: createRoute({
    method: 'post',
    path: `${base}/mosquitto/superuser`,
    tags,
    summary: 'mosquitto-go-auth (HTTP backend): superuser check, always denied',
    description: 'A gatepass credential grants its topic ACL and nothing more: always 403.',
    request: { params: BrokerParams },
    responses: { 403: goAuthJson('Never a superuser'), 404: notFoundResponse, 429: rateLimitedResponse },
  }),
  acl: createRoute({
    method: 'post',
    path: `${base}/mosquitto/acl`,
    tags,
    summary: 'mosquitto-go-auth (HTTP backend): ACL check',
    description:
      '`username` (the token) must verify for this broker, bound to `clientid`, and allow `acc` on `topic` ' +
      '(1: a message delivered on a topic matching a `sub` filter, never a `$share/` name; 2: a publish ' +
      'matching a `pub` filter; 3: both; 4: a subscription covered by one `sub` filter, `$share/{name}/` ' +
      'decided on the filter after it).',
    request: { params: BrokerParams, body: goAuthBody(GoAuthAclRequest) },
    responses: goAuthResponses,
  }),
};

function goAuthReply(c: Context<AppEnv>, answer: GoAuthAnswer) {
  if (answer.ok) return c.json({ ok: true, error: '' }, 200);
  c.set('refusal', answer.reason);
  return c.json({ ok: false, error: answer.status === 503 ? 'unavailable' : 'denied' }, answer.status);
}

const goAuthBadRequest: GoAuthAnswer = { ok: false, status: 400, reason: 'bad_request' };

// --- rate limit and registration ---------------------------------------------------------------------

/**
 * The address the request came from: the socket's peer on Node (@hono/node-server passes the request as
 * `env.incoming`), Cloudflare's `cf-connecting-ip` on Workers. Never `x-forwarded-for`, which any client
 * can set.
 */
function sourceAddress(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? c.req.header('cf-connecting-ip') ?? 'unknown';
}

/** A token bucket per source address over every hook of every broker; 0 per minute: no limit. */
function hookRateLimit(perMinute: number, clock: Clock): MiddlewareHandler<AppEnv> | undefined {
  if (perMinute === 0) return undefined;
  const limiter = createRateLimiter({ perMinute });
  return async (c, next) => {
    const decision = limiter.take(sourceAddress(c), clock());
    if (!decision.ok) {
      c.header('Retry-After', String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000))));
      return renderFailure(c, 'rate_limited', 'too many webhook requests from this address');
    }
    await next();
  };
}

export interface HookOptions {
  /** Webhook requests per source address a minute (a minute's worth as burst); 0: unlimited. */
  perMinute: number;
  clock: Clock;
}

/**
 * Public on purpose, like /publickeys and /credentials/refresh: brokers call these for their clients, and
 * the presented token is the credential. What a login remembered (RabbitMQ) is keyed by username and
 * reveals only allow/deny; put gatepass where only your brokers reach these paths if that matters.
 */
export function registerHookRoutes(api: Api, { perMinute, clock }: HookOptions) {
  const limit = hookRateLimit(perMinute, clock);
  if (limit) api.use('/namespaces/:namespace/brokers/:broker/hooks/*', limit);

  const emqx = async (c: Context<AppEnv>, fields: unknown) => {
    const params = brokerParams(c);
    const body = EmqxAuthRequest.safeParse(fields);
    if (params === undefined || !body.success) return emqxDeny(c, 'bad_request');
    const verification = await c.var.services.brokerVerifiers.get(params.namespace, params.broker);
    if (verification === undefined) return emqxDeny(c, 'unknown_broker');
    const { response, result } = await authenticateEmqx(verification.verifier, body.data, {
      now: verification.now,
    });
    if (!result.ok) c.set('refusal', result.reason);
    return c.json(response, 200);
  };
  serveRoute(api, emqxRoutes.post, async (c) => emqx(c, await readFields(c)));
  serveRoute(api, emqxRoutes.get, (c) => emqx(c, formFields(queryString(c.req.url))));

  for (const check of ['user', 'vhost', 'resource', 'topic'] as const) {
    const routes = rabbitRoutes(check);
    const answer = async (c: Context<AppEnv>, encoded: string) => {
      const params = brokerParams(c);
      const fields = RabbitMqParamsSchema.safeParse(formFields(encoded));
      if (params === undefined || !fields.success) {
        c.set('refusal', 'bad_request');
        return c.text('deny', 200);
      }
      const { rabbitmq } = await verificationFor(c, params.namespace, params.broker);
      return rabbitReply(c, await decideRabbit(rabbitmq, check, fields.data));
    };
    serveRoute(api, routes.get, (c) => answer(c, queryString(c.req.url)));
    serveRoute(api, routes.post, async (c) => answer(c, await readText(c)));
  }

  serveRoute(api, goAuthRoutes.user, async (c) => {
    const params = brokerParams(c);
    const body = GoAuthUserRequest.safeParse(await readFields(c));
    if (params === undefined || !body.success) return goAuthReply(c, goAuthBadRequest);
    const { verifier } = await verificationFor(c, params.namespace, params.broker);
    return goAuthReply(c, await goAuthUser(verifier, body.data));
  });

  serveRoute(api, goAuthRoutes.superuser, async (c) => {
    const params = brokerParams(c);
    if (params !== undefined) await verificationFor(c, params.namespace, params.broker);
    const answer = goAuthSuperuser();
    if (!answer.ok) c.set('refusal', answer.reason);
    return c.json({ ok: false, error: 'denied' }, 403);
  });

  serveRoute(api, goAuthRoutes.acl, async (c) => {
    const params = brokerParams(c);
    const body = GoAuthAclRequest.safeParse(await readFields(c));
    if (params === undefined || !body.success) return goAuthReply(c, goAuthBadRequest);
    const { verifier } = await verificationFor(c, params.namespace, params.broker);
    return goAuthReply(c, await goAuthAcl(verifier, { ...body.data, acc: Number(body.data.acc) }));
  });
}

/**
 * Puts the route in the OpenAPI document and serves it with a plain handler that parses its input with the
 * same zod schemas, once. Brokers call these per client and per message: zod-openapi's validator chain
 * (param, media type, body: three middlewares a route) would cost more than the verification itself, and
 * malformed input must be a denial in the broker's terms, not the API's 400 envelope.
 */
function serveRoute(api: Api, route: RouteConfig, handler: Handler<AppEnv>): void {
  api.openAPIRegistry.registerPath(route);
  api.on(route.method.toUpperCase(), route.path.replaceAll(/\/{(.+?)}/g, '/:$1'), handler);
}

function brokerParams(c: Context<AppEnv>): z.infer<typeof BrokerParams> | undefined {
  const parsed = BrokerParams.safeParse({
    namespace: c.req.param('namespace'),
    broker: c.req.param('broker'),
  });
  return parsed.success ? parsed.data : undefined;
}

async function readText(c: Context<AppEnv>): Promise<string> {
  try {
    return await c.req.text();
  } catch {
    return '';
  }
}

/** The fields of a form body (by its content type), or else of a JSON body; undefined when neither parses. */
async function readFields(c: Context<AppEnv>): Promise<unknown> {
  const text = await readText(c);
  const isForm = /^application\/x-www-form-urlencoded/i.test(c.req.header('content-type') ?? '');
  return isForm ? formFields(text) : parseJson(text);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function queryString(url: string): string {
  const question = url.indexOf('?');
  return question < 0 ? '' : url.slice(question + 1);
}

/** Form or query fields, or undefined when a field is repeated (which no broker does). */
function formFields(encoded: string): Record<string, string> | undefined {
  const fields: Record<string, string> = Object.create(null);
  for (const [key, value] of new URLSearchParams(encoded)) {
    if (Object.hasOwn(fields, key)) return undefined;
    fields[key] = value;
  }
  return fields;
}
