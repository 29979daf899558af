// Request limits at the HTTP boundary: per-admin-key rates for issuing and revoking (429), how deep a JSON
// body may nest (400), and a deadline for every request (503). Body size (413) is hono's bodyLimit, in app.ts.
import type { Context, MiddlewareHandler } from 'hono';
import type { Clock } from '../core/clock.js';
import { jsonDepthExcess, MAX_JSON_DEPTH } from '../core/json.js';
import { createRateLimiter } from '../core/rate-limit.js';
import type { AppEnv } from './context.js';
import { apiError, failureBody, renderFailure } from './envelope.js';

export interface RateLimits {
  /** Issuing requests (credentials GET and POST, token exchange) per admin key a minute; 0: unlimited. */
  issuePerMinute: number;
  /** Revoke and un-revoke requests per admin key a minute; 0: unlimited. */
  revokePerMinute: number;
}

/** 429 `rate_limited` with `Retry-After` in whole seconds (at least 1), as every rate limit answers. */
export function renderRateLimited(c: Context, retryAfterMs: number, message: string) {
  c.header('Retry-After', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
  return c.json(failureBody([apiError('rate_limited', message)]), 429);
}

/**
 * Counts requests of one kind per admin key (set by adminAuth, which must run first), in a token bucket
 * held in this process's memory: each Node process, or each Worker isolate, counts on its own. A request is
 * counted before it is validated, so a flood of bad requests is limited too. Throws on a bad rate.
 */
export function rateLimit(
  kind: 'issue' | 'revoke',
  perMinute: number,
  clock: Clock,
): MiddlewareHandler<AppEnv> | undefined {
  if (perMinute === 0) return undefined;
  const limiter = createRateLimiter({ perMinute });
  return async (c, next) => {
    const decision = limiter.take(c.var.actor.keyId, clock());
    if (!decision.ok) {
      return renderRateLimited(
        c,
        decision.retryAfterMs,
        `this admin key may make at most ${perMinute} ${kind} requests a minute; retry after the Retry-After seconds`,
      );
    }
    await next();
  };
}

/** Whether a Content-Type names JSON (`application/json`, `application/merge-patch+json`...). */
export const hasJsonBody = (contentType: string | undefined) =>
  /^application\/([a-z.+-]+\+)?json\b/i.test(contentType ?? '');

/**
 * Refuses a JSON body nesting arrays and objects deeper than MAX_JSON_DEPTH (400 naming the top-level field
 * that does), before validation: refinements walk bodies recursively, and a few kilobytes of `[` would
 * otherwise exhaust the stack (a 500) or spend milliseconds of CPU per request. JSON.parse and the scan are
 * both iterative. The parsed body is hono's cached text, read once; a body that is not JSON is left to the
 * validator, which says so.
 */
export const limitJsonDepth: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!hasJsonBody(c.req.header('content-type'))) return next();
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    return next();
  }
  const excess = jsonDepthExcess(body, MAX_JSON_DEPTH);
  if (excess === null) return next();
  const [field] = excess;
  return renderFailure(
    c,
    'invalid_input',
    `the body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`,
    field === undefined ? undefined : String(field),
  );
};

/**
 * Answers 503 `timeout` when the rest of the chain has not answered within `ms` (0: no deadline). The work
 * itself is not cancelled (nothing in a request can be safely abandoned halfway by the HTTP layer): a write
 * may still land after the 503, so clients retry idempotent requests (revocations) and treat a timed-out
 * issue as unknown.
 */
export function requestTimeout(ms: number): MiddlewareHandler<AppEnv> {
  if (!Number.isInteger(ms) || ms < 0)
    throw new TypeError('the request timeout must be whole milliseconds >= 0');
  return async (c, next) => {
    if (ms === 0) return next();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<'expired'>((resolve) => {
      timer = setTimeout(() => resolve('expired'), ms);
    });
    try {
      const outcome = await Promise.race([next(), expired]);
      // Once this response is set the context is finalized: the handler's late answer is dropped.
      if (outcome === 'expired') {
        return renderFailure(c, 'timeout', `the request did not complete within ${ms} ms`);
      }
    } finally {
      clearTimeout(timer);
    }
  };
}
