// Revocation sources: the port the verifier consults on every CONNECT, and an in-memory implementation.

/**
 * Answers whether a credential's `jti` has been revoked. The verifier calls it on every CONNECT,
 * cache hits included, so it must be synchronous and O(1): a source keeps its own set up to date in the
 * background (as the incremental HTTP feed source will) and never does I/O inside `isRevoked`. A source
 * that can no longer vouch for its set (say, a feed that has been unreachable for too long) may answer
 * `true` for every `jti` to fail closed.
 *
 * @example
 * const revocations: RevocationSource = { isRevoked: (jti) => revokedIds.has(jti) };
 * const verifier = createVerifier({ keys, issuer, audience, algorithms: ['EdDSA'], revocations });
 */
export interface RevocationSource {
  isRevoked(jti: string): boolean;
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
