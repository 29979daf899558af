// The HTTP application: routes, admin auth, validation errors, body limits, request logs, spec and docs.
import { OpenAPIHono } from '@hono/zod-openapi';
import { Scalar } from '@scalar/hono-api-reference';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { Config } from '../config.js';
import { type Clock, systemClock } from '../core/clock.js';
import { ServiceError } from '../core/errors.js';
import type { Services } from '../service/index.js';
import { adminAuth } from './admin-auth.js';
import { CLOUDFLARE_ACCOUNT, rewriteCloudflareRequest } from './compat.js';
import type { AppEnv } from './context.js';
import { apiError, errorStatus, failureBody, renderFailure, success } from './envelope.js';
import { hasJsonBody, limitJsonDepth, type RateLimits, rateLimit, requestTimeout } from './limits.js';
import { methodNotAllowed } from './methods.js';
import { registerAdminKeyRoutes } from './routes/admin-keys.js';
import { registerAuditRoutes } from './routes/audit.js';
import { registerBrokerRoutes, registerPublicKeyRoutes } from './routes/brokers.js';
import { registerCredentialRoutes } from './routes/credentials.js';
import { registerHookRoutes } from './routes/hooks.js';
import { registerIdentitySourceRoutes } from './routes/identity-sources.js';
import { registerMaintenanceRoutes } from './routes/maintenance.js';
import { registerNamespaceRoutes } from './routes/namespaces.js';
import { registerRefreshRoutes } from './routes/refresh.js';
import { registerRevocationSinkRoutes } from './routes/revocation-sinks.js';
import { registerRevocationRoutes } from './routes/revocations.js';
import { registerSigningKeyRoutes } from './routes/signing-keys.js';
import { registerTokenExchangeRoutes } from './routes/token-exchange.js';

export type LogLine = Record<string, unknown>;
export type Log = (line: LogLine) => void;

export interface AppOptions {
  services: Services;
  log: Log;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
  /** Per-admin-key request rates for issuing and revoking (429 beyond); omitted: unlimited. */
  rateLimits?: RateLimits;
  /** Milliseconds a request may take before a 503 `timeout` (0 or omitted: no deadline). */
  requestTimeoutMs?: number;
  /** For the rate limits' buckets. */
  clock?: Clock;
  /** Broker webhook requests per source address a minute (429 beyond); 0: unlimited. Default 60,000. */
  hookRatePerMinute?: number;
}

/** The settings both runtimes read from their configuration (see src/config.ts). */
export type AppSettings = Pick<
  AppOptions,
  'maxBodyBytes' | 'rateLimits' | 'requestTimeoutMs' | 'hookRatePerMinute'
>;

export function appSettingsFrom(
  config: Pick<
    Config,
    | 'GATEPASS_MAX_BODY_BYTES'
    | 'GATEPASS_RATE_ISSUE_PER_MINUTE'
    | 'GATEPASS_RATE_REVOKE_PER_MINUTE'
    | 'GATEPASS_REQUEST_TIMEOUT_MS'
    | 'GATEPASS_RATE_HOOKS_PER_MINUTE'
  >,
): AppSettings {
  return {
    maxBodyBytes: config.GATEPASS_MAX_BODY_BYTES,
    rateLimits: {
      issuePerMinute: config.GATEPASS_RATE_ISSUE_PER_MINUTE,
      revokePerMinute: config.GATEPASS_RATE_REVOKE_PER_MINUTE,
    },
    requestTimeoutMs: config.GATEPASS_REQUEST_TIMEOUT_MS,
    hookRatePerMinute: config.GATEPASS_RATE_HOOKS_PER_MINUTE,
  };
}

export interface ApiOptions {
  rateLimits?: RateLimits | undefined;
  clock?: Clock | undefined;
  hookRatePerMinute?: number | undefined;
}

/** GATEPASS_RATE_HOOKS_PER_MINUTE's default: a busy broker's reconnect storm, not a flood of strangers. */
export const DEFAULT_HOOK_RATE_PER_MINUTE = 60_000;

export const API_VERSION = '0.1.0';
const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

function newApi() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (result.success) return;
      const errors = result.error.issues.flatMap((issue) =>
        // An unknown key is reported at the object holding it; name the key itself as the field at fault.
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((key) =>
              apiError('invalid_input', `Unrecognized key: "${key}"`, [...issue.path, key].join('.')),
            )
          : [
              apiError(
                'invalid_input',
                issue.message,
                issue.path.length > 0 ? issue.path.join('.') : undefined,
              ),
            ],
      );
      return c.json(failureBody(errors), 400);
    },
  });
}

/**
 * Answers that carry credentials or secrets (issued tokens, admin keys) are never to be kept by a browser,
 * a proxy or a shared cache (RFC 9111 §5.2.2.5). Set before the handler, so refusals carry it too.
 */
const noStore: MiddlewareHandler = async (c, next) => {
  c.header('Cache-Control', 'no-store');
  await next();
};

/** The /v1 API, without dependencies: also what the OpenAPI document is generated from. */
export function createApi({
  rateLimits,
  clock = systemClock,
  hookRatePerMinute = DEFAULT_HOOK_RATE_PER_MINUTE,
}: ApiOptions = {}) {
  const brokerPath = '/namespaces/:namespace/brokers/:broker';
  const publicApi = newApi();
  publicApi.post(`${brokerPath}/credentials/refresh`, noStore);
  registerPublicKeyRoutes(publicApi);
  // The presented token is the credential (see routes/refresh.ts).
  registerRefreshRoutes(publicApi);
  // Broker HTTP-auth webhooks: the token the broker passes on is the credential (see routes/hooks.ts).
  registerHookRoutes(publicApi, { perMinute: hookRatePerMinute, clock });

  const adminApi = newApi();
  adminApi.use('*', adminAuth());
  adminApi.on(['GET', 'POST'], `${brokerPath}/credentials`, noStore);
  adminApi.post(`${brokerPath}/token-exchange`, noStore);
  adminApi.post('/admin-keys', noStore);
  // The answer to a webhook sink's creation may carry its generated secret.
  adminApi.post(`${brokerPath}/revocation-sinks`, noStore);
  // After adminAuth: the buckets are per admin key.
  const issueLimit = rateLimits && rateLimit('issue', rateLimits.issuePerMinute, clock);
  if (issueLimit) {
    adminApi.on(['GET', 'POST'], `${brokerPath}/credentials`, issueLimit);
    adminApi.post(`${brokerPath}/token-exchange`, issueLimit);
  }
  const revokeLimit = rateLimits && rateLimit('revoke', rateLimits.revokePerMinute, clock);
  if (revokeLimit) adminApi.on(['POST', 'DELETE'], `${brokerPath}/revocations`, revokeLimit);
  // After the rate limits, which count bad requests too; before every route's validation.
  adminApi.use('*', limitJsonDepth);
  registerNamespaceRoutes(adminApi);
  registerBrokerRoutes(adminApi);
  registerCredentialRoutes(adminApi);
  registerRevocationRoutes(adminApi);
  registerSigningKeyRoutes(adminApi);
  registerAdminKeyRoutes(adminApi);
  registerMaintenanceRoutes(adminApi);
  registerIdentitySourceRoutes(adminApi);
  registerRevocationSinkRoutes(adminApi);
  registerTokenExchangeRoutes(adminApi);
  registerAuditRoutes(adminApi);

  // Public routes first: they answer before the admin key check registered by adminApi runs.
  const api = newApi();
  api.route('/v1', publicApi);
  api.route('/v1', adminApi);
  api.openAPIRegistry.registerComponent('securitySchemes', 'adminKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'An admin key (gpk_...): created on first start, then through /v1/admin-keys',
  });
  return api;
}

export function openApiDocument(api = createApi()) {
  return api.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'gatepass',
      version: API_VERSION,
      description:
        'Issues and revokes broker-scoped JWT credentials for MQTT brokers. Every /v1 route is also served ' +
        'under the Cloudflare-compatible prefixes /client/v4/accounts/{account}/pubsub (as wrangler calls ' +
        'it) and /client/v4/accounts/{account}/brokers (as Cloudflare’s documentation writes it). Any ' +
        'request taking longer than GATEPASS_REQUEST_TIMEOUT_MS is answered 503 with the error `timeout`. ' +
        'A method a path does not serve is answered 405 `method_not_allowed`, with `Allow`. Answers that ' +
        'carry credentials or secrets (issuing, token exchange, refresh, admin-key creation) are sent with ' +
        '`Cache-Control: no-store`.',
    },
  });
}

/** Broker webhooks take what brokers send: RabbitMQ and mosquitto-go-auth post forms (routes/hooks.ts). */
const isHookPath = (path: string) => /\/brokers\/[^/]+\/hooks\//.test(path);

/** A request that carries a body must say it is JSON: 415 otherwise, before any parsing. */
const requireJsonBodies: MiddlewareHandler = async (c, next) => {
  const length = c.req.header('content-length');
  const carriesBody =
    (length !== undefined && length !== '0') || c.req.header('transfer-encoding') !== undefined;
  if (carriesBody && !hasJsonBody(c.req.header('content-type')) && !isHookPath(c.req.path)) {
    return renderFailure(c, 'unsupported_media_type', 'request bodies must be application/json');
  }
  await next();
};

/** Decided from the headers where they settle it; a streamed body is read (and kept for the validator). */
async function isEmptyBody(c: Context): Promise<boolean> {
  const length = c.req.header('content-length');
  if (length !== undefined && c.req.header('transfer-encoding') === undefined) return /^0+$/.test(length);
  if (c.req.header('transfer-encoding') === undefined && c.req.raw.body === null) return true;
  return (await c.req.text()) === '';
}

/**
 * An empty body is no body: scripts send `Content-Type: application/json` with nothing after it
 * (`curl -X POST -H 'Content-Type: application/json' '...?jti=...'`). Such a request is handed on without
 * the content type, so every route reads it as one without a body, exactly as when the header is absent:
 * the query alone where a body is optional, the body's defaults (or the field it lacks) where it is not.
 */
const emptyBodyIsNoBody: MiddlewareHandler = async (c, next) => {
  if (hasJsonBody(c.req.header('content-type')) && !isHookPath(c.req.path) && (await isEmptyBody(c))) {
    const headers = new Headers(c.req.raw.headers);
    for (const name of ['content-type', 'content-length', 'transfer-encoding']) headers.delete(name);
    c.req.raw = new Request(c.req.url, { method: c.req.method, headers, signal: c.req.raw.signal });
  }
  await next();
};

/**
 * hono's bodyLimit, without its cost where the headers settle the question: it reads `c.req.raw.body`
 * first, which on @hono/node-server builds a full Request with a web stream for every request (~100 µs,
 * and node-server's direct body read is lost). A Content-Length without Transfer-Encoding decides by
 * itself; a GET or HEAD with neither has no body anyone reads; anything else (chunked, or an HTTP/2 body
 * without a length) is counted as it streams, by hono's bodyLimit.
 */
function limitBody(maxBodyBytes: number): MiddlewareHandler {
  const tooLarge = (c: Context) =>
    renderFailure(c, 'payload_too_large', `request bodies are limited to ${maxBodyBytes} bytes`);
  const streaming = bodyLimit({ maxSize: maxBodyBytes, onError: tooLarge });
  return async (c, next) => {
    if (c.req.header('transfer-encoding') === undefined) {
      const length = c.req.header('content-length');
      if (length !== undefined && /^\d+$/.test(length)) {
        return Number(length) > maxBodyBytes ? tooLarge(c) : next();
      }
      if (length === undefined && (c.req.method === 'GET' || c.req.method === 'HEAD')) return next();
    }
    return streaming(c, next);
  };
}

function requestLog(log: Log): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    log({
      level: c.res.status >= 500 ? 'error' : 'info',
      msg: 'request',
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      duration_ms: Math.round((performance.now() - started) * 100) / 100,
      admin_key: c.var.actor?.keyId ?? null,
      ...(c.var.refusal === undefined ? {} : { refusal: c.var.refusal }),
    });
  };
}

export function createApp({
  services,
  log,
  maxBodyBytes = DEFAULT_MAX_BODY_BYTES,
  rateLimits,
  requestTimeoutMs = 0,
  clock,
  hookRatePerMinute,
}: AppOptions) {
  const api = createApi({ rateLimits, clock, hookRatePerMinute });
  const document = openApiDocument(api);
  const app = new OpenAPIHono<AppEnv>();

  app.use('*', requestLog(log));
  app.use('*', async (c, next) => {
    c.set('services', services);
    await next();
  });
  app.use(
    '*',
    methodNotAllowed(() => app.routes),
  );
  app.use('*', requestTimeout(requestTimeoutMs));
  app.use('*', limitBody(maxBodyBytes));
  app.use('*', requireJsonBodies);
  app.use('*', emptyBodyIsNoBody);

  app.get('/healthz', async (c) => {
    try {
      await services.ping();
      return c.json({ status: 'ok' }, 200);
    } catch {
      return c.json({ status: 'unavailable' }, 503);
    }
  });
  // Browsers go to the API reference; curl and scripts get where things are.
  app.get('/', (c) => {
    c.header('Vary', 'Accept');
    if (c.req.header('accept')?.includes('text/html')) return c.redirect('/docs', 302);
    return c.json(
      success({ name: 'gatepass', version: API_VERSION, docs: '/docs', openapi: '/openapi.json' }),
      200,
    );
  });
  app.get('/openapi.json', (c) => c.json(document));
  app.get('/docs', Scalar({ url: '/openapi.json', pageTitle: 'gatepass API' }));
  app.get('/client/v4/memberships', adminAuth(), (c) =>
    c.json(
      success([{ id: CLOUDFLARE_ACCOUNT.id, account: CLOUDFLARE_ACCOUNT, status: 'accepted' }], {
        page: 1,
        per_page: 1,
        count: 1,
        total_count: 1,
      }),
    ),
  );
  app.route('/', api);

  app.notFound((c) => renderFailure(c, 'not_found', `no route for ${c.req.method} ${c.req.path}`));
  app.onError((error, c) => {
    if (error instanceof ServiceError) return renderFailure(c, error.code, error.message, error.field);
    if (error instanceof HTTPException && error.status < 500) {
      const code = Object.entries(errorStatus).find(([, value]) => value.status === error.status)?.[0];
      return renderFailure(c, (code ?? 'invalid_input') as keyof typeof errorStatus, error.message);
    }
    log({ level: 'error', msg: 'unhandled error', path: c.req.path, error: String(error) });
    return renderFailure(c, 'internal', 'internal error');
  });

  return {
    app,
    fetch: (request: Request, env?: unknown, executionContext?: unknown) =>
      app.fetch(rewriteCloudflareRequest(request), env, executionContext as never),
  };
}

export type GatepassApp = ReturnType<typeof createApp>;
