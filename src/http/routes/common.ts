// Route building blocks shared by every resource.
import type { z } from '@hono/zod-openapi';
import { ErrorEnvelope, envelope, type Paging } from '../schemas.js';

const errorDescriptions = {
  400: 'Invalid input: `errors[].field` names the field and `message` the reason',
  401: 'Missing or unknown admin key',
  403: 'The admin key may not do this (read-only, or scoped to one namespace)',
  404: 'Not found (also for resources outside the admin key’s namespace; for jtis, `field` is `jti` and the message names the unknown ones)',
  409: 'Conflict: the name is taken, or the change would lock operators out',
  413: 'Request body too large',
  415: 'The request body must be application/json',
  429: 'Too many requests with this admin key (`rate_limited`): retry after the `Retry-After` seconds',
} as const;

type ErrorStatus = keyof typeof errorDescriptions;

export function errorResponses(...statuses: ErrorStatus[]) {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: errorDescriptions[status], content: { 'application/json': { schema: ErrorEnvelope } } },
    ]),
  ) as Record<
    ErrorStatus,
    { description: string; content: { 'application/json': { schema: typeof ErrorEnvelope } } }
  >;
}

export function jsonResponse<T extends z.ZodType>(description: string, result: T, paged: Paging = false) {
  return { description, content: { 'application/json': { schema: envelope(result, paged) } } };
}

export function jsonBody<T extends z.ZodType>(schema: T, required = true) {
  return { required, content: { 'application/json': { schema } } };
}

export const adminSecurity = [{ adminKey: [] }];

/** The errors every admin route can answer. */
export const adminErrors = errorResponses(400, 401, 403, 404);
export const writeErrors = errorResponses(400, 401, 403, 404, 413, 415);
