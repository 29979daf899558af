// The signing-key part of the drizzle Store: which keys are published, and every change of a key's state as
// one atomic batch whose later writes happen only if its first one found the keys as the caller saw them.
import {
  aliasedTable,
  and,
  asc,
  desc,
  eq,
  exists,
  gt,
  isNotNull,
  isNull,
  lt,
  lte,
  notExists,
  type SQL,
  sql,
} from 'drizzle-orm';
import type { AuditEventRecord } from '../core/audit.js';
import type { GatepassDatabase, RunAtomically } from './drizzle.js';
import { auditInsertWhere } from './drizzle-audit.js';
import { toBroker } from './drizzle-configuration.js';
import { insertRowWhere } from './drizzle-sql.js';
import type { SigningKeyRecord, Store } from './port.js';
import { brokers, namespaces, signingKeys } from './schema.js';

type SigningKeyStore = Pick<
  Store,
  | 'listSigningKeys'
  | 'listAllSigningKeys'
  | 'listBrokersDueForRotation'
  | 'listBrokersWithoutNextKey'
  | 'rotateSigningKey'
  | 'revokeSigningKey'
  | 'insertNextSigningKey'
  | 'deleteRemovableSigningKeys'
>;

function toSigningKey(row: typeof signingKeys.$inferSelect): SigningKeyRecord {
  return { ...row, publicJwk: JSON.parse(row.publicJwk) };
}

const signingKeyRow = (key: SigningKeyRecord) => ({ ...key, publicJwk: JSON.stringify(key.publicJwk) });

// The states of core/signing-keys.ts as conditions; a revoked key always has `retiredAt` too.
const published = isNull(signingKeys.revokedAt);
const isCurrent = and(isNotNull(signingKeys.activatedAt), isNull(signingKeys.retiredAt));
const isNext = and(isNull(signingKeys.activatedAt), isNull(signingKeys.retiredAt));

export function createSigningKeyStore(db: GatepassDatabase, runAtomically: RunAtomically): SigningKeyStore {
  const key = (brokerId: string, kid: string) =>
    and(eq(signingKeys.brokerId, brokerId), eq(signingKeys.kid, kid));
  const keyExists = (brokerId: string, kid: string, state?: SQL) =>
    exists(
      db
        .select({ kid: signingKeys.kid })
        .from(signingKeys)
        .where(and(key(brokerId, kid), state)),
    );
  const auditWhere = (audit: AuditEventRecord | undefined, condition: SQL) =>
    audit === undefined ? [] : [auditInsertWhere(db, audit, condition)];

  async function listKeys(brokerId: string, condition?: SQL) {
    const rows = await db
      .select()
      .from(signingKeys)
      .where(and(eq(signingKeys.brokerId, brokerId), condition))
      .orderBy(desc(signingKeys.createdAt));
    return rows.map(toSigningKey);
  }

  /** Whether `kid` is on record: every batch below makes its later writes depend on its first one. */
  async function recorded(brokerId: string, kid: string, state?: SQL): Promise<boolean> {
    const [row] = await db
      .select({ kid: signingKeys.kid })
      .from(signingKeys)
      .where(and(key(brokerId, kid), state))
      .limit(1);
    return row !== undefined;
  }

  return {
    listSigningKeys: (brokerId) => listKeys(brokerId, published),
    listAllSigningKeys: (brokerId) => listKeys(brokerId),

    async listBrokersDueForRotation(now, publishedBy, afterId, limit) {
      const nextKeys = aliasedTable(signingKeys, 'next_key');
      const rows = await db
        .select({
          broker: brokers,
          currentKey: signingKeys,
          nextKey: nextKeys,
          namespaceName: namespaces.name,
        })
        .from(brokers)
        .innerJoin(signingKeys, and(eq(signingKeys.brokerId, brokers.id), isCurrent))
        .innerJoin(
          nextKeys,
          and(eq(nextKeys.brokerId, brokers.id), isNull(nextKeys.activatedAt), isNull(nextKeys.retiredAt)),
        )
        .innerJoin(namespaces, eq(namespaces.id, brokers.namespaceId))
        .where(
          and(
            isNotNull(brokers.keyRotationPeriod),
            lte(sql`${signingKeys.activatedAt} + ${brokers.keyRotationPeriod} * 1000`, now),
            lte(nextKeys.createdAt, publishedBy),
            gt(brokers.id, afterId),
          ),
        )
        .orderBy(asc(brokers.id))
        .limit(limit);
      return rows.map((row) => ({
        broker: toBroker(row.broker),
        currentKey: toSigningKey(row.currentKey),
        nextKey: toSigningKey(row.nextKey),
        namespaceName: row.namespaceName,
      }));
    },

    async listBrokersWithoutNextKey(afterId, limit) {
      const rows = await db
        .select({ broker: brokers, namespaceName: namespaces.name })
        .from(brokers)
        .innerJoin(namespaces, eq(namespaces.id, brokers.namespaceId))
        .where(
          and(
            gt(brokers.id, afterId),
            notExists(
              db
                .select({ kid: signingKeys.kid })
                .from(signingKeys)
                .where(and(eq(signingKeys.brokerId, brokers.id), isNext)),
            ),
          ),
        )
        .orderBy(asc(brokers.id))
        .limit(limit);
      return rows.map((row) => ({ broker: toBroker(row.broker), namespaceName: row.namespaceName }));
    },

    async rotateSigningKey({ brokerId, retiring, promoting, next }, audit) {
      // Two schedulers, or a scheduler and an operator, may rotate at once: the first batch to run finds
      // the keys as it expects and inserts its new next key; every later write follows that insert.
      const done = keyExists(brokerId, next.kid);
      await runAtomically([
        insertRowWhere(
          db,
          signingKeys,
          signingKeyRow(next),
          and(keyExists(brokerId, retiring.kid, isCurrent), keyExists(brokerId, promoting.kid, isNext)),
        ),
        db
          .update(signingKeys)
          .set({
            retiredAt: retiring.retiredAt,
            removeAfter: retiring.removeAfter,
            ...(retiring.revokedAt === null ? {} : { revokedAt: retiring.revokedAt, sealedPrivateJwk: '' }),
          })
          .where(and(key(brokerId, retiring.kid), done)),
        db
          .update(signingKeys)
          .set({ activatedAt: promoting.activatedAt })
          .where(and(key(brokerId, promoting.kid), done)),
        ...auditWhere(audit, done),
      ]);
      return recorded(brokerId, next.kid);
    },

    async revokeSigningKey({ brokerId, kid, revokedAt, removeAfter, replacement }, audit) {
      const revoked = {
        revokedAt,
        retiredAt: sql`coalesce(${signingKeys.retiredAt}, ${revokedAt})`,
        sealedPrivateJwk: '',
      };
      if (replacement !== null) {
        const done = keyExists(brokerId, replacement.kid);
        await runAtomically([
          insertRowWhere(db, signingKeys, signingKeyRow(replacement), keyExists(brokerId, kid, isNext)),
          db
            .update(signingKeys)
            .set({ ...revoked, removeAfter })
            .where(and(key(brokerId, kid), done)),
          ...auditWhere(audit, done),
        ]);
        return recorded(brokerId, replacement.kid);
      }
      // A retired key keeps its `removeAfter`: its record goes when its tokens would have expired.
      const retired = and(isNotNull(signingKeys.retiredAt), isNull(signingKeys.revokedAt));
      const done = keyExists(brokerId, kid, eq(signingKeys.revokedAt, revokedAt));
      await runAtomically([
        db
          .update(signingKeys)
          .set(revoked)
          .where(and(key(brokerId, kid), retired)),
        ...auditWhere(audit, done),
      ]);
      return recorded(brokerId, kid, eq(signingKeys.revokedAt, revokedAt));
    },

    async insertNextSigningKey(next, audit) {
      const brokerExists = exists(
        db.select({ id: brokers.id }).from(brokers).where(eq(brokers.id, next.brokerId)),
      );
      const hasNext = exists(
        db
          .select({ kid: signingKeys.kid })
          .from(signingKeys)
          .where(and(eq(signingKeys.brokerId, next.brokerId), isNext)),
      );
      const done = keyExists(next.brokerId, next.kid);
      await runAtomically([
        insertRowWhere(db, signingKeys, signingKeyRow(next), and(brokerExists, sql`not ${hasNext}`)),
        ...auditWhere(audit, done),
      ]);
      return recorded(next.brokerId, next.kid);
    },

    async deleteRemovableSigningKeys(now) {
      const deleted = await db
        .delete(signingKeys)
        .where(and(isNotNull(signingKeys.retiredAt), lt(signingKeys.removeAfter, now)))
        .returning({ brokerId: signingKeys.brokerId, revokedAt: signingKeys.revokedAt });
      // A revoked key left the key set when it was revoked: deleting its record changes no verifier.
      return deleted.filter((row) => row.revokedAt === null).map((row) => row.brokerId);
    },
  };
}
