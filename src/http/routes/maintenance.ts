// /maintenance/run: the scheduled job on demand (key rotation, next keys, retired-key removal, sink delivery,
// pruning, audit retention).
import { createRoute, z } from '@hono/zod-openapi';
import type { Api } from '../context.js';
import { success } from '../envelope.js';
import { adminErrors, adminSecurity, jsonResponse } from './common.js';

const count = (description: string) => z.number().int().nonnegative().openapi({ description });

export const MaintenanceResult = z
  .object({
    keys_rotated: count(
      'Brokers whose signing key was older than their key_rotation_period, and whose next key had been published long enough',
    ),
    keys_removed: count('Retired keys taken out of the JWKS: every token they signed has expired'),
    revocations_pruned: count('Revocations of expired tokens'),
    credentials_pruned: count('Issued-credential records of expired tokens'),
    events_pruned: count('Revocation feed events of expired tokens'),
    audit_events_pruned: count('Audit events older than GATEPASS_AUDIT_RETENTION_DAYS'),
    sink_changes_delivered: count('Changes delivered to revocation sinks'),
    sinks_failed: count('Revocation sinks whose delivery failed (retried with backoff)'),
  })
  .openapi('MaintenanceResult');

export function registerMaintenanceRoutes(api: Api) {
  api.openapi(
    createRoute({
      method: 'post',
      path: '/maintenance/run',
      tags: ['Maintenance'],
      summary: 'Run the scheduled job now (an admin key for all namespaces with write)',
      description:
        'The job the scheduler runs every GATEPASS_CRON_INTERVAL seconds and `npm run cron` runs once. ' +
        'Idempotent: running it again at once changes nothing.',
      security: adminSecurity,
      responses: { 200: jsonResponse('What the job did', MaintenanceResult), ...adminErrors },
    }),
    async (c) => {
      const counts = await c.var.services.maintenance.run(c.get('actor'));
      return c.json(
        success({
          keys_rotated: counts.keysRotated,
          keys_removed: counts.keysRemoved,
          revocations_pruned: counts.revocationsPruned,
          credentials_pruned: counts.credentialsPruned,
          events_pruned: counts.eventsPruned,
          audit_events_pruned: counts.auditEventsPruned,
          sink_changes_delivered: counts.sinkChangesDelivered,
          sinks_failed: counts.sinksFailed,
        }),
        200,
      );
    },
  );
}
