// Cloudflare's v4 response envelope, on every route: { success, errors: [{ code, message }], messages, result }.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ErrorCode } from '../core/errors.js';

export interface ApiError {
  /** Stable numeric code, as Cloudflare clients expect. */
  code: number;
  message: string;
  /** Stable name of the code. */
  error: ErrorCode;
  /** The input field at fault, for invalid input. */
  field?: string;
}

export const errorStatus: Record<ErrorCode, { status: ContentfulStatusCode; code: number }> = {
  invalid_input: { status: 400, code: 10400 },
  unauthorized: { status: 401, code: 10401 },
  forbidden: { status: 403, code: 10403 },
  not_found: { status: 404, code: 10404 },
  method_not_allowed: { status: 405, code: 10405 },
  conflict: { status: 409, code: 10409 },
  payload_too_large: { status: 413, code: 10413 },
  unsupported_media_type: { status: 415, code: 10415 },
  rate_limited: { status: 429, code: 10429 },
  timeout: { status: 503, code: 10503 },
  revocation_limit: { status: 409, code: 10490 },
  internal: { status: 500, code: 10500 },
  invalid_token: { status: 401, code: 10461 },
  lifetime_exceeded: { status: 403, code: 10462 },
  untrusted_issuer: { status: 401, code: 10470 },
  invalid_signature: { status: 401, code: 10471 },
  token_expired: { status: 401, code: 10472 },
  invalid_audience: { status: 401, code: 10473 },
  invalid_subject_token: { status: 401, code: 10474 },
  identity_denied: { status: 403, code: 10475 },
  template_value_refused: { status: 403, code: 10476 },
  identity_source_timeout: { status: 424, code: 10477 },
  identity_source_unavailable: { status: 424, code: 10478 },
};

export interface ResultInfo {
  page: number;
  per_page: number;
  count: number;
  total_count: number;
}

export function success<T>(result: T, resultInfo?: ResultInfo) {
  return {
    success: true as const,
    errors: [] as ApiError[],
    messages: [] as string[],
    result,
    ...(resultInfo ? { result_info: resultInfo } : {}),
  };
}

export function failureBody(errors: ApiError[]) {
  return { success: false as const, errors, messages: [] as string[], result: null };
}

export function apiError(error: ErrorCode, message: string, field?: string): ApiError {
  return { code: errorStatus[error].code, message, error, ...(field === undefined ? {} : { field }) };
}

export function renderFailure(c: Context, error: ErrorCode, message: string, field?: string) {
  return c.json(failureBody([apiError(error, message, field)]), errorStatus[error].status);
}
