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
  goAuthToken,
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
    clientid: z
      .string()
      .max(MAX_FIELD)
      .nullish()
      .openapi({ description: '`${clientid}`: the token’s `sub`' }),
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

const emqxRoute = createRoute({
  method: 'post',
  path: `${base}/emqx`,
  tags,
  summary: 'EMQX 5 HTTP authentication (no admin key: the password is the credential)',
  description:
    'The body EMQX’s HTTP authenticator sends (configure its body template as below). Verifies the ' +
    'password as a gatepass credential of this broker, bound to `clientid`, exactly as the verifier ' +
    'library does, and answers `allow` with the token’s ACL as EMQX 5 authorization rules, `expire_at` ' +
    'from its `exp` and `client_attrs`, or `deny` (always status 200; a malformed body is a `deny` too).',
  request: {
    params: BrokerParams,
    body: { required: true, content: { 'application/json': { schema: EmqxAuthRequest } } },
  },
  responses: {
    200: { description: 'The decision', content: { 'application/json': { schema: EmqxAuthResponse } } },
    404: notFoundResponse,
    429: rateLimitedResponse,
  },
});

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
    'queues (`mqtt-subscription-<client id>qos0|qos1`) and on server-named queues (`amq.gen-*`); nothing else.',
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

// --- mosquitto-go-auth (JWT backend, remote mode) ------------------------------------------------------

const GoAuthHeaders = z.object({
  authorization: z
    .string()
    .max(MAX_FIELD)
    .optional()
    .openapi({ description: '`Bearer <token>` (go-auth sends the MQTT username, which is the token)' }),
});

const GoAuthAclRequest = z
  .object({
    topic: z.string().max(65_535).openapi({ description: 'Topic name, or filter for `acc` 4' }),
    clientid: z.string().max(MAX_FIELD).openapi({ description: 'Must be the token’s `sub`' }),
    acc: z
      .union([z.number().int(), z.string().regex(/^\d{1,2}$/)])
      .openapi({ description: '1 read, 2 write, 3 read and write, 4 subscribe' }),
  })
  .openapi('GoAuthAclRequest');

const GoAuthResponse = z.object({ ok: z.boolean(), error: z.string() }).openapi('GoAuthResponse', {
  description: 'What `jwt_response_mode json` reads; the status says the same',
});

const goAuthJson = (description: string) => ({
  description,
  content: { 'application/json': { schema: GoAuthResponse } },
});

const goAuthResponses = {
  200: goAuthJson('Allowed'),
  400: goAuthJson('Malformed request (`acl`: no `topic`, `clientid` or known `acc`)'),
  401: goAuthJson('The token is refused'),
  403: goAuthJson('Not allowed: the ACL does not allow it, or any superuser check'),
  404: notFoundResponse,
  429: rateLimitedResponse,
  503: goAuthJson('Keys or revocations unavailable: retry'),
};

const goAuthRoutes = {
  user: createRoute({
    method: 'post',
    path: `${base}/mosquitto/user`,
    tags,
    summary: 'mosquitto-go-auth (JWT, remote mode): user check',
    description:
      'The token comes in `Authorization: Bearer` (the MQTT username); the body is ignored. go-auth sends ' +
      'no client id here: each `acl` check binds the token’s `sub` to the client id.',
    request: { params: BrokerParams, headers: GoAuthHeaders },
    responses: goAuthResponses,
  }),
  superuser: createRoute({
    method: 'post',
    path: `${base}/mosquitto/superuser`,
    tags,
    summary: 'mosquitto-go-auth (JWT, remote mode): superuser check, always denied',
    description: 'A gatepass credential grants its topic ACL and nothing more: always 403.',
    request: { params: BrokerParams },
    responses: { 403: goAuthJson('Never a superuser'), 404: notFoundResponse, 429: rateLimitedResponse },
  }),
  acl: createRoute({
    method: 'post',
    path: `${base}/mosquitto/acl`,
    tags,
    summary: 'mosquitto-go-auth (JWT, remote mode): ACL check',
    description:
      'The token must verify for this broker, bound to `clientid`, and allow `acc` on `topic` (1: a message ' +
      'delivered on a topic matching a `sub` filter; 2: a publish matching a `pub` filter; 3: both; 4: a ' +
      'subscription covered by one `sub` filter). JSON (`jwt_params_mode json`) or form (`form`).',
    request: {
      params: BrokerParams,
      headers: GoAuthHeaders,
      body: {
        required: true,
        content: {
          'application/json': { schema: GoAuthAclRequest },
          'application/x-www-form-urlencoded': { schema: GoAuthAclRequest },
        },
      },
    },
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

  serveRoute(api, emqxRoute, async (c) => {
    const params = brokerParams(c);
    const body = EmqxAuthRequest.safeParse(await readJson(c));
    if (params === undefined || !body.success) {
      c.set('refusal', 'bad_request');
      return c.json({ result: 'deny' }, 200);
    }
    const verification = await verificationFor(c, params.namespace, params.broker);
    const { response, result } = await authenticateEmqx(verification.verifier, body.data, {
      now: verification.now,
    });
    if (!result.ok) c.set('refusal', result.reason);
    return c.json(response, 200);
  });

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
    if (params === undefined) return goAuthReply(c, goAuthBadRequest);
    const { verifier } = await verificationFor(c, params.namespace, params.broker);
    return goAuthReply(c, await goAuthUser(verifier, goAuthToken(c.req.header('authorization'))));
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
    if (params === undefined) return goAuthReply(c, goAuthBadRequest);
    const isForm = /^application\/x-www-form-urlencoded/i.test(c.req.header('content-type') ?? '');
    const text = await readText(c);
    const body = GoAuthAclRequest.safeParse(isForm ? formFields(text) : parseJson(text));
    if (!body.success) return goAuthReply(c, goAuthBadRequest);
    const { verifier } = await verificationFor(c, params.namespace, params.broker);
    const token = goAuthToken(c.req.header('authorization'));
    const { topic, clientid, acc } = body.data;
    return goAuthReply(c, await goAuthAcl(verifier, token, { topic, clientid, acc: Number(acc) }));
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

async function readJson(c: Context<AppEnv>): Promise<unknown> {
  return parseJson(await readText(c));
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
