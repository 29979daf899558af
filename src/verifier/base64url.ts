// The compact JWS codecs: its shape, strict base64url (RFC 4648 §5, unpadded) segments, ASCII to bytes.
//
// Built on the platform's atob, TextEncoder and regular expressions rather than loops over characters:
// measured here, a JavaScript loop costs ~5 ns a character, the native paths a fraction of that, and a
// token is a few hundred characters decoded on every cold CONNECT.

/** Three non-empty base64url segments separated by dots (RFC 7515 §7.1). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const NON_ASCII = /[\u0080-\uffff]/;

/**
 * The last character of a canonical encoding, by length modulo 4: with 2 or 3 characters left over, the
 * bits after the last whole byte must be zero, so every byte string has exactly one spelling.
 */
const CANONICAL_LAST = ['', '', 'AQgw', 'AEIMQUYcgkosw048'] as const;

const utf8Encoder = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export function isCompactJws(token: string): boolean {
  return COMPACT_JWS.test(token);
}

/** `text.slice(start, end)` decoded to a binary string (one character a byte), or undefined. */
function decodeToBinary(text: string, start: number, end: number): string | undefined {
  const segment = text.slice(start, end);
  const remainder = segment.length & 3;
  if (remainder === 1 || !BASE64URL.test(segment)) return undefined;
  if (remainder !== 0 && !CANONICAL_LAST[remainder]!.includes(segment.charAt(segment.length - 1))) {
    return undefined;
  }
  // atob takes base64 without padding (HTML's forgiving-base64), once the two alphabets differ no more.
  return atob(segment.replaceAll('-', '+').replaceAll('_', '/'));
}

/**
 * Decodes `text.slice(start, end)`, or returns undefined when it is not canonical unpadded base64url: a
 * character outside the alphabet, a length of 1 modulo 4, or non-zero bits after the last whole byte.
 */
export function decodeBase64url(
  text: string,
  start = 0,
  end = text.length,
): Uint8Array<ArrayBuffer> | undefined {
  const binary = decodeToBinary(text, start, end);
  return binary === undefined ? undefined : binaryToBytes(binary);
}

/** The base64url segment `text.slice(start, end)` holding a JSON object in UTF-8, or undefined. */
export function decodeJsonObject(
  text: string,
  start: number,
  end: number,
): Record<string, unknown> | undefined {
  const binary = decodeToBinary(text, start, end);
  if (binary === undefined) return undefined;
  try {
    // ASCII, as claims nearly always are, is its own UTF-8: parse the binary string as it is.
    const json = NON_ASCII.test(binary) ? strictUtf8.decode(binaryToBytes(binary)) : binary;
    const value: unknown = JSON.parse(json);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function binaryToBytes(binary: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The bytes of `text.slice(0, end)`, which must be ASCII (as a compact JWS is). */
export function asciiBytes(text: string, end: number): Uint8Array<ArrayBuffer> {
  return utf8Encoder.encode(text.slice(0, end));
}
