// The Cloudflare Workers composition root: D1 through drizzle, configuration from the Worker's vars and secrets.
import type { D1Database, ExecutionContext, ScheduledController } from '@cloudflare/workers-types/latest';
import { drizzle } from 'drizzle-orm/d1';
import { base64url } from 'jose';
import { parseWorkerConfig } from '../config.js';
import { systemClock } from '../core/clock.js';
import { createUlidGenerator } from '../core/ids.js';
import { createKeyEncryptionKey } from '../crypto/key-encryption.js';
import { appSettingsFrom, createApp, type GatepassApp, type Log } from '../http/app.js';
import { apiError, failureBody } from '../http/envelope.js';
import { createServices, type Services } from '../service/index.js';
import { createDrizzleStore, type GatepassDatabase, type RunAtomically } from '../store/drizzle.js';
import * as schema from '../store/schema.js';

/** The bindings of wrangler.toml: the D1 database, `[vars]`, and the secrets put with `wrangler secret put`. */
export interface WorkerEnv {
  DB: D1Database;
  /** Secret, required: the key-encryption key (32 bytes, base64url). */
  GATEPASS_KEK?: string;
  /** Secret: an admin key for all namespaces; required while the database holds no admin key. */
  GATEPASS_ADMIN_TOKEN?: string;
  GATEPASS_ISSUER?: string;
  GATEPASS_MAX_BODY_BYTES?: string;
  GATEPASS_RATE_ISSUE_PER_MINUTE?: string;
  GATEPASS_RATE_REVOKE_PER_MINUTE?: string;
  GATEPASS_MAX_REVOCATIONS_PER_BROKER?: string;
  GATEPASS_RATE_REFRESH_PER_MINUTE?: string;
  GATEPASS_REQUEST_TIMEOUT_MS?: string;
  GATEPASS_RATE_HOOKS_PER_MINUTE?: string;
  GATEPASS_AUDIT_RETENTION_DAYS?: string;
}

/** Workers Logs parses one JSON object a line. */
const log: Log = (line) => {
  console.log(JSON.stringify({ time: new Date().toISOString(), ...line }));
};

/** Configuration the operator has to fix: every request answers 500 with this message until then. */
class Misconfigured extends Error {}

interface Isolate {
  app: GatepassApp;
  services: Services;
  /** Set when a change revocation sinks carry was written: the answer then schedules a delivery. */
  sinkWork: { due: boolean };
}

async function build(env: WorkerEnv): Promise<Isolate> {
  const parsed = parseWorkerConfig(env as unknown as Record<string, unknown>);
  if (!parsed.ok) throw new Misconfigured(parsed.message);
  const config = parsed.config;

  const db = drizzle(env.DB, { schema });
  // D1 rejects BEGIN; a batch runs its statements in one implicit transaction.
  const runAtomically: RunAtomically = async (queries) => {
    const [first, ...rest] = queries;
    if (first) await db.batch([first, ...rest]);
  };
  const store = createDrizzleStore(db as unknown as GatepassDatabase, runAtomically);

  // Nothing can be printed to an operator here, so a first admin key is never generated: it comes from
  // the GATEPASS_ADMIN_TOKEN secret, which may be removed once other admin keys exist.
  if (config.GATEPASS_ADMIN_TOKEN === undefined && (await store.countAdminKeys()) === 0) {
    throw new Misconfigured(
      'invalid configuration:\n  GATEPASS_ADMIN_TOKEN: required on Workers while no admin key exists: ' +
        'set it with `wrangler secret put GATEPASS_ADMIN_TOKEN`',
    );
  }

  const clock = systemClock;
  const services = createServices({
    store,
    keyEncryptionKey: await createKeyEncryptionKey(new Uint8Array(base64url.decode(config.GATEPASS_KEK))),
    clock,
    newId: createUlidGenerator(clock),
    defaultIssuer: config.GATEPASS_ISSUER,
    keyOverlapSeconds: config.GATEPASS_KEY_OVERLAP,
    maxRevocationsPerBroker: config.GATEPASS_MAX_REVOCATIONS_PER_BROKER,
    auditRetentionDays: config.GATEPASS_AUDIT_RETENTION_DAYS,
    refreshPerMinute: config.GATEPASS_RATE_REFRESH_PER_MINUTE,
    log,
  });
  await services.adminKeys.bootstrap(config.GATEPASS_ADMIN_TOKEN);
  log({ level: 'info', msg: 'isolate ready' });
  // Rate limits are per isolate: Cloudflare runs many, so they bound one isolate's share, not the account's.
  const app = createApp({ services, log, clock, ...appSettingsFrom(config) });
  const sinkWork = { due: false };
  services.sinkDelivery.onChange(() => {
    sinkWork.due = true;
  });
  return { services, app, sinkWork };
}

/**
 * Services are built and the admin key bootstrapped once per isolate (per env object); a failed start is
 * not cached, so the next request tries again (after a D1 hiccup, or once a secret is set).
 */
const isolates = new WeakMap<WorkerEnv, Promise<Isolate>>();

function isolateFor(env: WorkerEnv): Promise<Isolate> {
  let isolate = isolates.get(env);
  if (!isolate) {
    isolate = build(env);
    isolates.set(env, isolate);
    isolate.catch(() => isolates.delete(env));
  }
  return isolate;
}

function startupFailure(error: unknown): Response {
  const misconfigured = error instanceof Misconfigured;
  log({
    level: 'error',
    msg: misconfigured ? 'misconfigured' : 'start-up failed',
    error: misconfigured ? error.message : String(error),
  });
  // The message names variables, never their values.
  const message = misconfigured ? `gatepass is not configured: ${error.message}` : 'internal error';
  return Response.json(failureBody([apiError('internal', message)]), { status: 500 });
}

export default {
  async fetch(request: Request, env: WorkerEnv, ctx: ExecutionContext): Promise<Response> {
    let isolate: Isolate;
    try {
      isolate = await isolateFor(env);
    } catch (error) {
      return startupFailure(error);
    }
    const response = await isolate.app.fetch(request, env, ctx);
    // A Worker has no background timer: the request that made a change delivers it, after its answer.
    if (isolate.sinkWork.due) {
      isolate.sinkWork.due = false;
      ctx.waitUntil(
        isolate.services.sinkDelivery.deliver().catch((error: unknown) => {
          log({ level: 'error', msg: 'revocation sink delivery failed', error: String(error) });
        }),
      );
    }
    return response;
  },

  /**
   * Cron Triggers (wrangler.toml `[triggers]`): key rotation, sink deliveries (retries included) and pruning,
   * at the trigger's time.
   */
  async scheduled(controller: ScheduledController, env: WorkerEnv): Promise<void> {
    const { services } = await isolateFor(env);
    await services.maintenance.runScheduledJob({ now: controller.scheduledTime });
  },
};
