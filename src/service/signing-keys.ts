// A broker's signing keys through their states: published ahead as the next key, rotated (on schedule or on
// request), revoked at once when compromised; and listed for operators.
import { ServiceError } from '../core/errors.js';
import { EXPIRY_GRACE_SECONDS, retiredKeyRemoveAfter, shorterLimit } from '../core/expiration.js';
import { prepublishedUntil, type SigningKeyState, signingKeyState } from '../core/signing-keys.js';
import type { BrokerRecord, NamespaceRecord, SigningKeyRecord } from '../store/port.js';
import type { Actor } from './access.js';
import { brokerEvent } from './audit.js';
import type { BrokerService } from './brokers.js';
import type { ServiceDeps } from './deps.js';
import { newSigningKeyRecord } from './keyring.js';

/** How long a retired key stays published for tokens without `exp`, unless configured otherwise. */
export const DEFAULT_KEY_OVERLAP_SECONDS = 7 * 24 * 3600;

/** A key as operators see it. */
export interface SigningKeyView extends SigningKeyRecord {
  state: SigningKeyState;
  /** For the next key: the earliest moment it may sign (pre-publication); null otherwise. */
  readyAt: number | null;
}

type Target = { namespace: Pick<NamespaceRecord, 'id' | 'name'>; broker: BrokerRecord };

export function createSigningKeyService(deps: ServiceDeps, brokers: BrokerService) {
  const {
    store,
    keyEncryptionKey,
    clock,
    brokerChanges,
    keyOverlapSeconds = DEFAULT_KEY_OVERLAP_SECONDS,
  } = deps;

  const newNextKey = (broker: BrokerRecord, now: number) =>
    newSigningKeyRecord(keyEncryptionKey, broker.id, broker.algorithm, now);

  /** When a key that stops signing at `now` may leave the key set: after every token it signed expired. */
  async function removeAfter(broker: BrokerRecord, kid: string, now: number): Promise<number> {
    const usage = await store.findKeyUsage(broker.id, kid);
    return retiredKeyRemoveAfter({
      retiredAt: now,
      latestExpiry: usage.latestExpiry,
      signedWithoutExpiry: usage.withoutExpiry > 0,
      brokerLifetime: shorterLimit(broker.expiration, broker.maxLifetime),
      overlapSeconds: keyOverlapSeconds,
      graceSeconds: EXPIRY_GRACE_SECONDS,
    });
  }

  /**
   * The next key becomes current, a new next key is published, and `current` retires (revoked as well
   * when `revoke`). False when another change to the broker's keys got there first.
   */
  async function promote(
    target: Target,
    current: SigningKeyRecord,
    next: SigningKeyRecord,
    { now, actor, revoke }: { now: number; actor: string; revoke: boolean },
  ): Promise<boolean> {
    const { broker } = target;
    const retiredUntil = await removeAfter(broker, current.kid, now);
    const newNext = await newNextKey(broker, now);
    const details = {
      retired_kid: current.kid,
      kid: next.kid,
      next_kid: newNext.kid,
      remove_after: retiredUntil,
    };
    const rotated = await store.rotateSigningKey(
      {
        brokerId: broker.id,
        retiring: {
          kid: current.kid,
          retiredAt: now,
          removeAfter: retiredUntil,
          revokedAt: revoke ? now : null,
        },
        promoting: { kid: next.kid, activatedAt: now },
        next: newNext,
      },
      revoke
        ? brokerEvent('signing_key.revoke', actor, now, target, {
            ...details,
            revoked_kid: current.kid,
            state: 'current',
          })
        : brokerEvent('signing_key.rotate', actor, now, target, details),
    );
    if (rotated) brokerChanges?.brokerChanged(broker.id);
    return rotated;
  }

  /** Publishes a next key for a broker that has none; false when it has one meanwhile. */
  async function publishNext(
    target: Target,
    now: number,
    actor: string,
  ): Promise<SigningKeyRecord | undefined> {
    const next = await newNextKey(target.broker, now);
    const inserted = await store.insertNextSigningKey(
      next,
      brokerEvent('signing_key.publish', actor, now, target, {
        kid: next.kid,
        ready_at: prepublishedUntil(now),
      }),
    );
    if (!inserted) return undefined;
    brokerChanges?.brokerChanged(target.broker.id);
    return next;
  }

  function keysByState(keys: SigningKeyRecord[]) {
    return {
      current: keys.find((key) => signingKeyState(key) === 'current'),
      next: keys.find((key) => signingKeyState(key) === 'next'),
    };
  }

  async function view(brokerId: string): Promise<SigningKeyView[]> {
    const keys = await store.listAllSigningKeys(brokerId);
    return keys.map((key) => {
      const state = signingKeyState(key);
      return { ...key, state, readyAt: state === 'next' ? prepublishedUntil(key.createdAt) : null };
    });
  }

  /** The current key: the next one signs from now on, however young (a compromised key cannot wait). */
  async function revokeCurrent(
    target: Target,
    key: SigningKeyRecord,
    next: SigningKeyRecord | undefined,
    now: number,
    actor: string,
  ): Promise<boolean> {
    const promoted = next ?? (await publishNext(target, now, actor));
    return promoted !== undefined && promote(target, key, promoted, { now, actor, revoke: true });
  }

  /** The next key (a new one is published in its place) or a retired one. */
  async function revokeUnused(
    target: Target,
    key: SigningKeyRecord,
    state: 'next' | 'retired',
    now: number,
    actor: string,
  ): Promise<boolean> {
    const { broker } = target;
    const replacement = state === 'next' ? await newNextKey(broker, now) : null;
    const revoked = await store.revokeSigningKey(
      {
        brokerId: broker.id,
        kid: key.kid,
        revokedAt: now,
        // A retired key's record goes when its tokens would have expired; a next key signed nothing.
        removeAfter: key.removeAfter ?? now,
        replacement,
      },
      brokerEvent('signing_key.revoke', actor, now, target, {
        revoked_kid: key.kid,
        state,
        ...(replacement === null ? {} : { next_kid: replacement.kid }),
      }),
    );
    if (revoked) brokerChanges?.brokerChanged(broker.id);
    return revoked;
  }

  const changedMeanwhile = () =>
    new ServiceError(
      'conflict',
      "the broker's signing keys changed during this request: list them and try again",
    );

  return {
    promote,
    publishNext,

    /** Every key of the broker, revoked ones included, newest first; needs `read`. */
    async list(actor: Actor, namespaceName: string, brokerName: string): Promise<SigningKeyView[]> {
      const { broker } = await brokers.access(actor, namespaceName, brokerName, 'read');
      return view(broker.id);
    },

    /**
     * Rotates now: the next key becomes current, a new next key is published, the old key stays published
     * while its tokens can live. Refused (409) while the next key has been published for less than the
     * pre-publication time: verifiers caching the key set might not know it yet. Revoking the current key
     * rotates at once, for a compromised key.
     */
    async rotate(actor: Actor, namespaceName: string, brokerName: string): Promise<SigningKeyView[]> {
      const target = await brokers.access(actor, namespaceName, brokerName, 'write');
      const now = clock();
      const { current, next } = keysByState(await store.listSigningKeys(target.broker.id));
      if (current === undefined) throw new Error(`broker ${target.broker.id} has no current signing key`);
      // Brokers created before keys were published ahead have none until the scheduled job's first run.
      const published = next ?? (await publishNext(target, now, actor.keyId));
      if (published === undefined) throw changedMeanwhile();
      const readyAt = prepublishedUntil(published.createdAt);
      if (now < readyAt) {
        throw new ServiceError(
          'conflict',
          `the next signing key ${published.kid} was published at ${new Date(published.createdAt).toISOString()}; ` +
            `verifiers caching the key set may not know it before ${new Date(readyAt).toISOString()}: ` +
            'rotate then, or revoke the current key if it is compromised',
        );
      }
      if (!(await promote(target, current, published, { now, actor: actor.keyId, revoke: false }))) {
        throw changedMeanwhile();
      }
      return view(target.broker.id);
    },

    /**
     * Revokes a key at once: it leaves the key set, so every token it signed is refused, and its private
     * half is erased. The current key is replaced by the next one, the next key by a new one. Revoking a
     * revoked key changes nothing.
     */
    async revoke(
      actor: Actor,
      namespaceName: string,
      brokerName: string,
      kid: string,
    ): Promise<SigningKeyView[]> {
      const target = await brokers.access(actor, namespaceName, brokerName, 'write');
      const { broker } = target;
      const now = clock();
      const keys = await store.listAllSigningKeys(broker.id);
      const key = keys.find((candidate) => candidate.kid === kid);
      if (key === undefined)
        throw new ServiceError('not_found', `this broker has no signing key ${kid}`, 'kid');
      const state = signingKeyState(key);
      if (state === 'revoked') return view(broker.id);
      const revoked =
        state === 'current'
          ? await revokeCurrent(target, key, keysByState(keys).next, now, actor.keyId)
          : await revokeUnused(target, key, state, now, actor.keyId);
      if (!revoked) throw changedMeanwhile();
      return view(broker.id);
    },
  };
}

export type SigningKeyService = ReturnType<typeof createSigningKeyService>;
