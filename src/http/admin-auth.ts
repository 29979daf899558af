// Admin authentication: `Authorization: Bearer <admin key>` (RFC 6750), resolved to an Actor.
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.js';
import { renderFailure } from './envelope.js';

const BEARER = /^Bearer[ ]+([\x21-\x7e]{1,512})$/i;

export function adminAuth(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const match = BEARER.exec(c.req.header('authorization') ?? '');
    const actor = match ? await c.var.services.adminKeys.authenticate(match[1]!) : undefined;
    if (!actor) {
      c.header('WWW-Authenticate', 'Bearer realm="gatepass"');
      return renderFailure(
        c,
        'unauthorized',
        'a valid admin key is required (Authorization: Bearer gpk_...)',
      );
    }
    c.set('actor', actor);
    await next();
  };
}
