// A bounded cache of verified tokens, so a client reconnecting with the same token skips the signature check.
import { sha256Latin1 } from './sha256.js';

/**
 * Verified tokens by token, bounded, each entry dying at its deadline.
 *
 * Keyed by the SHA-256 of the signature segment, with the signed part (`header.payload`) kept and compared
 * exactly on a hit: a hit is byte-for-byte the token that was verified, yet the cache never holds the
 * signature, the one part of a JWS that cannot be made up, so it never holds a usable credential. Hashing
 * 86 characters instead of the whole token (~500) keeps a hit around a microsecond: SHA-256 in JavaScript
 * costs ~0.5 µs a 64-byte block, and crypto.subtle.digest, asynchronous, ~30 µs a call on Node.
 *
 * Eviction is CLOCK (second chance), an approximation of least-recently-used in which a hit only sets a
 * flag: the full LRU's re-insertion on every hit would double the Map work of a reconnect storm.
 */
export interface TokenCache<T> {
  /** The cache key of a token of any shape, computed once per call; undefined for no compact JWS. */
  keyOf(token: string): string | undefined;
  /** The entry for the token; undefined when absent, expired or not this exact token. */
  get(key: string, token: string, nowMs: number): T | undefined;
  /** `signedPart` is the bytes of the token's `header.payload`, as its signature was checked over. */
  set(key: string, signedPart: Uint8Array, value: T, deadlineMs: number): void;
  delete(key: string): void;
  readonly size: number;
}

interface Entry<T> {
  readonly signedPart: string;
  readonly value: T;
  readonly deadlineMs: number;
  /** Set by a hit, cleared when eviction passes over the entry and spares it once. */
  referenced: boolean;
}

const asciiDecoder = new TextDecoder();

/** base64url's alphabet (RFC 4648 §5): one byte a character, as the hash reads it. */
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export function createTokenCache<T>(maxEntries: number): TokenCache<T> {
  // A Map iterates in insertion order, which is the clock's hand: the first key is the next candidate.
  const entries = new Map<string, Entry<T>>();

  function evictOne(): void {
    for (const [key, entry] of entries) {
      entries.delete(key);
      if (!entry.referenced) return;
      // Second chance: to the back of the queue, unreferenced.
      entry.referenced = false;
      entries.set(key, entry);
    }
  }

  return {
    keyOf: (token) => signatureKey(token, token.lastIndexOf('.')),
    get(key, token, nowMs) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      if (entry.deadlineMs <= nowMs) {
        entries.delete(key);
        return undefined;
      }
      // Same signature, different header or payload: not the token that was verified.
      const lastDot = token.lastIndexOf('.');
      if (lastDot !== entry.signedPart.length || token.slice(0, lastDot) !== entry.signedPart)
        return undefined;
      entry.referenced = true;
      return entry.value;
    },
    set(key, signedPart, value, deadlineMs) {
      if (!entries.delete(key) && entries.size >= maxEntries) evictOne();
      // Decoded from bytes, not sliced from the token: a substring may share memory with the whole token,
      // signature included, and the cache must not keep the signature alive.
      entries.set(key, { signedPart: asciiDecoder.decode(signedPart), value, deadlineMs, referenced: false });
    },
    delete(key) {
      entries.delete(key);
    },
    get size() {
      return entries.size;
    },
  };
}

/** SHA-256 of the signature segment, or undefined when it is not non-empty base64url. */
function signatureKey(token: string, lastDot: number): string | undefined {
  if (lastDot < 0) return undefined;
  const signature = token.slice(lastDot + 1);
  return BASE64URL.test(signature) ? sha256Latin1(signature) : undefined;
}
