// Revocation sources: the port the verifier consults on every CONNECT, and an in-memory implementation.

/**
 * Answers whether a credential's `jti` has been revoked. The verifier calls it on every CONNECT,
 * cache hits included, so it must be synchronous and O(1): a source keeps its own set up to date in the
 * background (as {@link createRevocationFeed} does) and never does I/O inside `isRevoked`. A source that
 * can no longer vouch for its set (a feed not synced yet, or unreachable for too long) says so with
 * `isStale`, and the verifier then refuses every CONNECT with `revocations_unavailable`.
 *
 * @example
 * const revocations: RevocationSource = { isRevoked: (jti) => revokedIds.has(jti) };
 * const verifier = createVerifier({ keys, issuer, audience, algorithms: ['EdDSA'], revocations });
 */
export interface RevocationSource {
  isRevoked(jti: string): boolean;
  /**
   * Optional: true while the source cannot vouch for its set, judged by its own clock. Called on every
   * CONNECT after `isRevoked`, so it must be synchronous and cheap too. Absent means always current.
   */
  isStale?(): boolean;
}

/**
 * An in-memory revocation set: the `jti`s given, plus any added later.
 *
 * @example
 * const revocations: StaticRevocations = createStaticRevocations();
 * revocations.add(jti);
 * revocations.size; // 1
 */
export interface StaticRevocations extends RevocationSource {
  /** Revokes one more `jti`; adding one already present changes nothing. */
  add(jti: string): void;
  readonly size: number;
}

/**
 * A revocation source backed by a `Set`, for tests, for brokers that load a list at start-up, and for
 * deployments that never revoke (`createStaticRevocations([])`).
 *
 * @example
 * const revocations = createStaticRevocations(['01HZX3J5V6Q8T9ABCDEFGHJKMN']);
 * revocations.isRevoked('01HZX3J5V6Q8T9ABCDEFGHJKMN'); // true
 * revocations.add('01HZX3J5V6Q8T9ABCDEFGHJKMP');
 */
export function createStaticRevocations(jtis: Iterable<string> = []): StaticRevocations {
  const revoked = new Set(jtis);
  return {
    isRevoked: (jti) => revoked.has(jti),
    add: (jti) => {
      revoked.add(jti);
    },
    get size() {
      return revoked.size;
    },
  };
}
