// Asking a webhook identity source about MQTT-style credentials: one POST of the filled body template and
// header values, bounded by the source's timeout from connect to the last byte of the answer. A 2xx JSON answer
// that meets the source's success rule and names a principal allows; anything else denies. Every outcome is a
// value; the caller turns refusals into 4xx.
import type { TemplateValues } from '../core/acl-template.js';
import {
  fillStringTemplates,
  type JsonPathSegment,
  jsonDepthExcess,
  MAX_JSON_DEPTH,
  parseJsonPath,
  readJsonPath,
} from '../core/json.js';
import type { WebhookSourceSettings } from '../store/port.js';
import {
  DEFAULT_SUCCESS_MEMBER,
  HEADER_VALUE,
  WEBHOOK_PLACEHOLDERS,
  type WebhookInput,
  webhookSuccessRule,
} from './identity-sources.js';
import { readCapped } from './subject-token.js';

export type WebhookRefusal = 'identity_denied' | 'identity_source_timeout' | 'identity_source_unavailable';

export type WebhookVerdict =
  | { ok: true; identity: TemplateValues }
  | { ok: false; reason: WebhookRefusal; detail: string };

export const MAX_WEBHOOK_RESPONSE_BYTES = 64 * 1024;

const deny = (detail: string): WebhookVerdict => ({ ok: false, reason: 'identity_denied', detail });

/**
 * The first request field that a header value of this source uses and whose value cannot travel in a header
 * (a line break, a control character, non-ASCII: see HEADER_VALUE), or undefined.
 */
export function unfitForHeaders(
  headers: Readonly<Record<string, string>>,
  input: WebhookInput,
): (typeof WEBHOOK_PLACEHOLDERS)[number] | undefined {
  const used = Object.values(headers).join('');
  return WEBHOOK_PLACEHOLDERS.find(
    (name) => used.includes(`\${${name}}`) && !HEADER_VALUE.test(input[name] ?? ''),
  );
}

/** Paths are checked when a source is saved; one that does not parse now is a programming error. */
function storedPath(path: string): JsonPathSegment[] {
  const segments = parseJsonPath(path);
  if (segments === undefined) throw new TypeError(`invalid stored JSON path ${path}`);
  return segments;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export async function askWebhook(
  fetch: typeof globalThis.fetch,
  settings: WebhookSourceSettings,
  headers: Record<string, string>,
  input: WebhookInput,
): Promise<WebhookVerdict> {
  const values = Object.fromEntries(WEBHOOK_PLACEHOLDERS.map((name) => [name, input[name] ?? '']));
  const body = JSON.stringify(fillStringTemplates(settings.body, values));
  const filledHeaders = fillStringTemplates(headers, values) as Record<string, string>;
  // One deadline for the whole exchange with the webhook: connecting, the headers and the body.
  const signal = AbortSignal.timeout(settings.timeoutMs);
  const failed = (): WebhookVerdict =>
    signal.aborted
      ? {
          ok: false,
          reason: 'identity_source_timeout',
          detail: `the webhook did not answer within ${settings.timeoutMs} ms`,
        }
      : { ok: false, reason: 'identity_source_unavailable', detail: 'the webhook could not be reached' };

  let text: string | undefined;
  try {
    const response = await fetch(settings.url, {
      method: 'POST',
      headers: { ...filledHeaders, 'content-type': 'application/json', accept: 'application/json' },
      body,
      // A redirect is an answer like any other non-2xx: following it could lead anywhere.
      redirect: 'manual',
      signal,
    });
    if (response.status < 200 || response.status > 299) {
      await response.body?.cancel().catch(() => {});
      return deny(`the webhook answered ${response.status}`);
    }
    text = await readCapped(response, MAX_WEBHOOK_RESPONSE_BYTES);
  } catch {
    return failed();
  }
  if (text === undefined)
    return deny(`the webhook's answer is larger than ${MAX_WEBHOOK_RESPONSE_BYTES} bytes`);

  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    return deny("the webhook's answer is not JSON");
  }
  // Paths are read iteratively, but nothing from outside goes further unbounded.
  if (jsonDepthExcess(answer, MAX_JSON_DEPTH) !== null) {
    return deny(`the webhook's answer nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  if (!succeeded(answer, webhookSuccessRule(settings))) {
    return deny("the webhook's answer does not say success");
  }
  const principal = readJsonPath(answer, storedPath(settings.principalPath));
  const sub =
    typeof principal === 'number' && Number.isFinite(principal)
      ? String(principal)
      : typeof principal === 'string'
        ? principal
        : '';
  if (sub === '') return deny(`the webhook's answer has no principal at ${settings.principalPath}`);
  const attributes = readJsonPath(answer, storedPath(settings.attributesPath)) ?? {};
  if (!isPlainObject(attributes)) {
    return deny(`the webhook's answer has something other than an object at ${settings.attributesPath}`);
  }
  return { ok: true, identity: { sub, attributes } };
}

/**
 * The success rule: the value at the rule's path is one of its values (compared as JSON scalars, so `"true"`
 * is not `true`). Without a path, an answer with a `result` member must have one of the values there, and an
 * answer without one (a plain identity) passes on its 2xx status alone.
 */
function succeeded(answer: unknown, rule: ReturnType<typeof webhookSuccessRule>): boolean {
  let value: unknown;
  if (rule.path === null) {
    if (!isPlainObject(answer) || !Object.hasOwn(answer, DEFAULT_SUCCESS_MEMBER)) return true;
    value = answer[DEFAULT_SUCCESS_MEMBER];
  } else {
    value = readJsonPath(answer, storedPath(rule.path));
  }
  return rule.values.some((expected) => expected === value);
}
