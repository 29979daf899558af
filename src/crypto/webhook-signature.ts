// Standard Webhooks signing (https://www.standardwebhooks.com/): `whsec_` secrets and the `webhook-signature`
// header, `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, with Web Crypto so it runs on Node and Workers.
const utf8 = new TextEncoder();

export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** The specification asks for 24 to 64 random bytes. */
export const MIN_WEBHOOK_SECRET_BYTES = 24;
export const MAX_WEBHOOK_SECRET_BYTES = 64;
const GENERATED_SECRET_BYTES = 32;

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** A new secret: `whsec_` and 32 random bytes in base64, as Standard Webhooks providers hand them out. */
export function generateWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + toBase64(crypto.getRandomValues(new Uint8Array(GENERATED_SECRET_BYTES)));
}

/** The HMAC key a `whsec_` secret stands for; undefined when it is not one (bad base64, or 24-64 bytes). */
export function webhookSecretKey(secret: string): Uint8Array<ArrayBuffer> | undefined {
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) return undefined;
  const encoded = secret.slice(WEBHOOK_SECRET_PREFIX.length);
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(encoded)) return undefined;
  const binary = atob(encoded);
  if (binary.length < MIN_WEBHOOK_SECRET_BYTES || binary.length > MAX_WEBHOOK_SECRET_BYTES) return undefined;
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

/**
 * The `webhook-signature` header for one delivery attempt: `timestamp` is the attempt's (epoch seconds), so
 * each retry is signed anew, under the same `id`.
 */
export async function signWebhook(
  secret: string,
  id: string,
  timestamp: number,
  body: string,
): Promise<string> {
  const keyBytes = webhookSecretKey(secret);
  if (keyBytes === undefined) throw new TypeError('not a whsec_ secret');
  const key = await crypto.subtle.importKey('raw', keyBytes, { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
  ]);
  const mac = await crypto.subtle.sign('HMAC', key, utf8.encode(`${id}.${timestamp}.${body}`));
  return `v1,${toBase64(new Uint8Array(mac))}`;
}
