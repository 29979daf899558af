// Configuration: one zod schema over environment variables, parsed only by the runtimes. The settings both
// runtimes share are defined once; Node adds where it listens and its SQLite file, Workers require the
// key-encryption key as a secret (there is no filesystem to generate one into).
import { z } from 'zod';

const base64urlKey = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 bytes, base64url-encoded (43 characters)');

/** A whole number of seconds in [min, max]. */
function seconds(min: number, max: number) {
  return z
    .string()
    .regex(/^\d{1,10}$/, 'must be a number of seconds')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
}

/** A whole number in [min, max], written in decimal. */
function count(min: number, max: number, unit: string) {
  return z
    .string()
    .regex(/^\d{1,10}$/, `must be a number of ${unit}`)
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
}

/** Settings with the same meaning on Node and on Workers. */
const sharedConfigShape = {
  /** The first admin key, instead of a generated one. */
  GATEPASS_ADMIN_TOKEN: z.string().min(24, 'must be at least 24 characters').max(512).optional(),
  /** Key-encryption key for signing keys at rest; generated into the data folder when absent (Node). */
  GATEPASS_KEK: base64urlKey.optional(),
  /** `iss` of brokers created without an explicit issuer. */
  GATEPASS_ISSUER: z.string().min(1).max(256).default('gatepass'),
  GATEPASS_MAX_BODY_BYTES: z
    .string()
    .regex(/^\d+$/, 'must be a number of bytes')
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(1024)
        .max(16 * 1024 * 1024),
    )
    .default(64 * 1024),
  /**
   * Seconds a retired signing key stays in the JWKS for tokens without `exp` (tokens with `exp` keep it
   * published until they expire). Default 7 days.
   */
  GATEPASS_KEY_OVERLAP: seconds(0, 10 * 365 * 24 * 3600).default(7 * 24 * 3600),
  /**
   * Issuing requests (credentials GET/POST, token exchange) per admin key a minute, with a minute's worth
   * as burst; 0: unlimited. Generous by default: tighten it for your clients.
   */
  GATEPASS_RATE_ISSUE_PER_MINUTE: count(0, 1_000_000, 'requests').default(6000),
  /** Revoke and un-revoke requests per admin key a minute; 0: unlimited. */
  GATEPASS_RATE_REVOKE_PER_MINUTE: count(0, 1_000_000, 'requests').default(6000),
  /**
   * Refreshes per presented credential and per client id of a broker a minute, a minute's worth as burst;
   * 0: unlimited. A device refreshes once per credential lifetime, so this only holds back abuse.
   */
  GATEPASS_RATE_REFRESH_PER_MINUTE: count(0, 1_000_000, 'refreshes').default(60),
  /** Broker webhook requests per source address a minute, a minute's worth as burst; 0: unlimited. */
  GATEPASS_RATE_HOOKS_PER_MINUTE: count(0, 1_000_000_000, 'requests').default(60_000),
  /** Most jtis one broker's revocation list may hold (409 `revocation_limit` beyond). */
  GATEPASS_MAX_REVOCATIONS_PER_BROKER: count(1, 1_000_000_000, 'revocations').default(1_000_000),
  /** Milliseconds a request may take before it is answered 503 `timeout`; 0: no deadline. */
  GATEPASS_REQUEST_TIMEOUT_MS: count(0, 600_000, 'milliseconds').default(30_000),
  /** Days the scheduled job keeps audit events; 0: forever. A year by default, as audits commonly ask. */
  GATEPASS_AUDIT_RETENTION_DAYS: count(0, 100 * 365, 'days').default(365),
};

export const configSchema = z.object({
  PORT: z
    .string()
    .regex(/^\d{1,5}$/, 'must be a port number')
    .transform(Number)
    .pipe(z.number().int().min(0).max(65535))
    .default(8787),
  HOST: z.string().min(1).default('127.0.0.1'),
  /** The SQLite file (Node runtime). */
  GATEPASS_DB: z.string().min(1).default('./data/gatepass.db'),
  /** Seconds between runs of the scheduled job (key rotation, pruning); 0: no scheduler. */
  GATEPASS_CRON_INTERVAL: seconds(0, 7 * 24 * 3600).default(3600),
  ...sharedConfigShape,
});

/** Workers: no listener or file to configure, and the key-encryption key must come from a secret. */
export const workerConfigSchema = z.object({
  ...sharedConfigShape,
  GATEPASS_KEK: z
    .string({ error: 'required on Workers: set it with `wrangler secret put GATEPASS_KEK`' })
    .pipe(base64urlKey),
});

export type Config = z.infer<typeof configSchema>;
export type WorkerConfig = z.infer<typeof workerConfigSchema>;

export type ParseResult<T> = { ok: true; config: T } | { ok: false; message: string };
export type ConfigResult = ParseResult<Config>;

/** Empty variables count as unset, as shells and .env files often leave them; non-strings are ignored. */
function parseWith<S extends z.ZodType>(schema: S, env: Record<string, unknown>): ParseResult<z.infer<S>> {
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => typeof value === 'string' && value !== ''),
  );
  const parsed = schema.safeParse(present);
  if (parsed.success) return { ok: true, config: parsed.data };
  const problems = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
  return { ok: false, message: `invalid configuration:\n${problems.join('\n')}` };
}

export function parseConfig(env: Record<string, string | undefined>): ConfigResult {
  return parseWith(configSchema, env);
}

/** The Worker's vars and secrets; bindings (the D1 database) are not strings and are left out. */
export function parseWorkerConfig(env: Record<string, unknown>): ParseResult<WorkerConfig> {
  return parseWith(workerConfigSchema, env);
}
