// The HTTP application: routes, admin auth, validation errors, body limits, request logs, spec and docs.
import { OpenAPIHono } from '@hono/zod-openapi';
import { Scalar } from '@scalar/hono-api-reference';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { ServiceError } from '../core/errors.js';
import type { Services } from '../service/index.js';
import { adminAuth } from './admin-auth.js';
import { CLOUDFLARE_ACCOUNT, rewriteCloudflareRequest } from './compat.js';
import type { AppEnv } from './context.js';
import { apiError, errorStatus, failureBody, renderFailure, success } from './envelope.js';
import { registerAdminKeyRoutes } from './routes/admin-keys.js';
import { registerBrokerRoutes, registerPublicKeyRoutes } from './routes/brokers.js';
import { registerCredentialRoutes } from './routes/credentials.js';
import { registerIdentitySourceRoutes } from './routes/identity-sources.js';
import { registerMaintenanceRoutes } from './routes/maintenance.js';
import { registerNamespaceRoutes } from './routes/namespaces.js';
import { registerRefreshRoutes } from './routes/refresh.js';
import { registerRevocationRoutes } from './routes/revocations.js';
import { registerTokenExchangeRoutes } from './routes/token-exchange.js';

export type LogLine = Record<string, unknown>;
export type Log = (line: LogLine) => void;

export interface AppOptions {
  services: Services;
  log: Log;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
}

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

/** The /v1 API, without dependencies: also what the OpenAPI document is generated from. */
export function createApi() {
  const publicApi = newApi();
  registerPublicKeyRoutes(publicApi);
  // The presented token is the credential (see routes/refresh.ts).
  registerRefreshRoutes(publicApi);

  const adminApi = newApi();
  adminApi.use('*', adminAuth());
  registerNamespaceRoutes(adminApi);
  registerBrokerRoutes(adminApi);
  registerCredentialRoutes(adminApi);
  registerRevocationRoutes(adminApi);
  registerAdminKeyRoutes(adminApi);
  registerMaintenanceRoutes(adminApi);
  registerIdentitySourceRoutes(adminApi);
  registerTokenExchangeRoutes(adminApi);

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
        'under the Cloudflare-compatible prefix /client/v4/accounts/{account}/pubsub.',
    },
  });
}

const hasJsonBody = (contentType: string | undefined) =>
  /^application\/([a-z.+-]+\+)?json\b/i.test(contentType ?? '');

/** A request that carries a body must say it is JSON: 415 otherwise, before any parsing. */
const requireJsonBodies: MiddlewareHandler = async (c, next) => {
  const length = c.req.header('content-length');
  const carriesBody =
    (length !== undefined && length !== '0') || c.req.header('transfer-encoding') !== undefined;
  if (carriesBody && !hasJsonBody(c.req.header('content-type'))) {
    return renderFailure(c, 'unsupported_media_type', 'request bodies must be application/json');
  }
  await next();
};

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

export function createApp({ services, log, maxBodyBytes = DEFAULT_MAX_BODY_BYTES }: AppOptions) {
  const api = createApi();
  const document = openApiDocument(api);
  const app = new OpenAPIHono<AppEnv>();

  app.use('*', requestLog(log));
  app.use('*', async (c, next) => {
    c.set('services', services);
    await next();
  });
  app.use(
    '*',
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) =>
        renderFailure(c, 'payload_too_large', `request bodies are limited to ${maxBodyBytes} bytes`),
    }),
  );
  app.use('*', requireJsonBodies);

  app.get('/healthz', async (c) => {
    try {
      await services.ping();
      return c.json({ status: 'ok' }, 200);
    } catch {
      return c.json({ status: 'unavailable' }, 503);
    }
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
