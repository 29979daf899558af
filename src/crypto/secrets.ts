// Admin secrets: generation, SHA-256 digests for storage, and constant-time comparison.
import { base64url } from 'jose';

/** Recognisable prefix, so secret scanners and humans can tell a gatepass admin key on sight. */
export const ADMIN_KEY_PREFIX = 'gpk_';

export function generateAdminSecret(): string {
  return ADMIN_KEY_PREFIX + base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
}

export async function sha256Hex(value: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(value));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** Compares two strings without an early exit, so timing does not reveal the matching prefix. */
export function constantTimeEqual(a: string, b: string): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    difference |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  }
  return difference === 0;
}
