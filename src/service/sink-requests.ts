// The HTTP calls revocation sinks make: disconnecting a client through RabbitMQ's or EMQX's management API, and
// a Standard Webhooks message. Each answers whether the receiver took it; a failure says why, without secrets.
import type { AuditEvent } from '../core/audit.js';
import { toEpochSeconds } from '../core/clock.js';
import { WEBHOOK_EVENT_OF } from '../core/sinks.js';
import { signWebhook } from '../crypto/webhook-signature.js';
import type { KickSinkSettings, RevocationSinkRecord, WebhookSinkSettings } from '../store/port.js';

/** What a failure keeps of the receiver's answer. */
const MAX_ANSWER_CHARS = 200;

export type SinkCallResult = { ok: true } | { ok: false; error: string };

export interface SinkCallContext {
  fetch: typeof fetch;
  /** The sink's secret, unsealed. */
  secret: string;
}

function basicAuthorization(username: string, secret: string): string {
  const bytes = new TextEncoder().encode(`${username}:${secret}`);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `Basic ${btoa(binary)}`;
}

/** `base` with `path` appended to its path (a management API may sit under a prefix). */
function endpoint(base: string, path: string): string {
  const url = new URL(base);
  url.pathname = url.pathname.replace(/\/+$/, '') + path;
  return url.toString();
}

/** The start of an answer's body, read no further, in one line. */
async function answerStart(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (text.length < MAX_ANSWER_CHARS) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return text.slice(0, MAX_ANSWER_CHARS).replace(/\p{Cc}+/gu, ' ');
}

function callFailure(error: unknown, timeoutMs: number): SinkCallResult {
  if (error instanceof DOMException && error.name === 'TimeoutError') {
    return { ok: false, error: `no answer within ${timeoutMs} ms` };
  }
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  const detail = typeof cause?.code === 'string' ? cause.code : String(cause?.message ?? error);
  return { ok: false, error: `could not connect: ${detail}` };
}

/** Calls, following no redirect (a 3xx is a failure) and giving up after the sink's timeout. */
async function call(
  context: SinkCallContext,
  timeoutMs: number,
  url: string,
  init: RequestInit,
  accepted: (response: Response) => Promise<boolean>,
): Promise<SinkCallResult> {
  let response: Response;
  try {
    response = await context.fetch(url, {
      ...init,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    return callFailure(error, timeoutMs);
  }
  try {
    if (await accepted(response)) return { ok: true };
    return { ok: false, error: `HTTP ${response.status}: ${await answerStart(response)}`.trimEnd() };
  } finally {
    await response.body?.cancel().catch(() => {});
  }
}

/**
 * Closes every connection of `clientId` (the RabbitMQ user name is the MQTT client id, the token's `sub`):
 * `DELETE /api/connections/username/{name}`, which RabbitMQ answers 204 with or without connections to close.
 * It reads RabbitMQ's connection tracking, not the statistics database, so it does not lag as the connection
 * list does.
 */
export function disconnectRabbitMqClient(
  context: SinkCallContext,
  settings: KickSinkSettings,
  clientId: string,
): Promise<SinkCallResult> {
  return call(
    context,
    settings.timeoutMs,
    endpoint(settings.url, `/api/connections/username/${encodeURIComponent(clientId)}`),
    {
      method: 'DELETE',
      headers: {
        authorization: basicAuthorization(settings.username, context.secret),
        'x-reason': 'gatepass: credential revoked',
      },
    },
    async (response) => response.ok,
  );
}

/**
 * Kicks `clientId` off EMQX: `DELETE /api/v5/clients/{clientid}` with the API key and secret as HTTP Basic
 * (emqx_mgmt_api_clients: 204 when kicked; 404 `CLIENTID_NOT_FOUND` when the client is not connected, which
 * is what was asked for).
 */
export function disconnectEmqxClient(
  context: SinkCallContext,
  settings: KickSinkSettings,
  clientId: string,
): Promise<SinkCallResult> {
  return call(
    context,
    settings.timeoutMs,
    endpoint(settings.url, `/api/v5/clients/${encodeURIComponent(clientId)}`),
    { method: 'DELETE', headers: { authorization: basicAuthorization(settings.username, context.secret) } },
    async (response) => {
      if (response.ok) return true;
      if (response.status !== 404) return false;
      const body = (await response
        .clone()
        .json()
        .catch(() => null)) as { code?: unknown } | null;
      return body?.code === 'CLIENTID_NOT_FOUND';
    },
  );
}

/** A webhook message's `webhook-id`: the same for every attempt at one event, and unique to the sink and event. */
export function webhookMessageId(sinkId: string, seq: number): string {
  return `msg_${sinkId}_${seq}`;
}

/**
 * The message for an audit event: `{ type, timestamp, data }` as Standard Webhooks suggests, `data` naming the
 * namespace and broker, the action and actor, and the event's details (jtis, client ids, kids; never a token).
 */
export function webhookPayload(event: AuditEvent): string {
  const { namespace, broker, action, actor, details } = event;
  return JSON.stringify({
    type: WEBHOOK_EVENT_OF[action],
    timestamp: new Date(event.at).toISOString(),
    data: { namespace, broker, action, actor, ...details },
  });
}

/** Posts one event, signed for this attempt (`now`, epoch ms); any 2xx is taken. */
export async function postWebhookEvent(
  context: SinkCallContext,
  sink: Pick<RevocationSinkRecord, 'id'> & { settings: WebhookSinkSettings },
  event: AuditEvent,
  now: number,
): Promise<SinkCallResult> {
  const id = webhookMessageId(sink.id, event.seq);
  const timestamp = toEpochSeconds(now);
  const body = webhookPayload(event);
  return call(
    context,
    sink.settings.timeoutMs,
    sink.settings.url,
    {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': await signWebhook(context.secret, id, timestamp, body),
      },
      body,
    },
    async (response) => response.ok,
  );
}
