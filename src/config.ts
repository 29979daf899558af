// Configuration: one zod schema over environment variables, parsed only by the runtimes.
import { z } from 'zod';

const base64urlKey = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 bytes, base64url-encoded (43 characters)');

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
});

export type Config = z.infer<typeof configSchema>;

export type ConfigResult = { ok: true; config: Config } | { ok: false; message: string };

/** Empty variables count as unset, as shells and .env files often leave them. */
export function parseConfig(env: Record<string, string | undefined>): ConfigResult {
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = configSchema.safeParse(present);
  if (parsed.success) return { ok: true, config: parsed.data };
  const problems = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
  return { ok: false, message: `invalid configuration:\n${problems.join('\n')}` };
}
