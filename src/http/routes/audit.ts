// /audit: who issued, refreshed, exchanged, revoked, un-revoked, rotated and changed the configuration, and when.
import { createRoute, z } from '@hono/zod-openapi';
import { AUDIT_ACTIONS, type AuditEvent } from '../../core/audit.js';
import { resourceNameSchema } from '../../core/names.js';
import type { Api } from '../context.js';
import { PageQuery, timestamp } from '../schemas.js';
import { pagedSuccess } from '../views.js';
import { adminErrors, adminSecurity, jsonResponse } from './common.js';

export const AuditQuery = PageQuery.extend({
  action: z.enum(AUDIT_ACTIONS).optional().openapi({ description: 'Only events of this action' }),
  actor: z
    .string()
    .regex(/^[0-9A-Za-z_.:-]{1,160}$/, 'an admin key id, `scheduler`, `startup` or `refresh:<jti>`')
    .optional()
    .openapi({
      description: 'Only events by this admin key id (or `scheduler`, `startup`, or `refresh:<jti>`)',
    }),
  namespace: resourceNameSchema.optional().openapi({ description: 'Only events in this namespace' }),
  broker: resourceNameSchema.optional().openapi({ description: 'Only events about brokers of this name' }),
  since: z.iso.datetime({ offset: true }).optional().openapi({
    description: 'Only events at or after this time (ISO 8601)',
    example: '2026-01-01T00:00:00Z',
  }),
});

export const AuditEventSchema = z
  .object({
    seq: z.number().int().openapi({ description: 'Position in the trail; later events have larger numbers' }),
    at: z.string().openapi({ description: 'When (ISO 8601)' }),
    action: z.enum(AUDIT_ACTIONS),
    actor: z.string().openapi({
      description:
        'The admin key id; `refresh:<jti>` for a refresh (the presented credential), `scheduler` for the ' +
        'scheduled job, `startup` for the admin key registered at start-up',
    }),
    namespace: z.string().nullable(),
    broker: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).openapi({
      description:
        'What the action touched: jtis and client ids, kids, admin key ids and names, settings (on updates ' +
        '`changes`: `{ field: { old, new } }`); never a token or a secret',
    }),
  })
  .openapi('AuditEvent');

function auditEventJson(event: AuditEvent): z.infer<typeof AuditEventSchema> {
  return {
    seq: event.seq,
    at: timestamp(event.at),
    action: event.action,
    actor: event.actor,
    namespace: event.namespace,
    broker: event.broker,
    details: event.details,
  };
}

export function registerAuditRoutes(api: Api) {
  api.openapi(
    createRoute({
      method: 'get',
      path: '/audit',
      tags: ['Audit'],
      summary: 'The audit trail, newest first',
      description:
        'Every issue, refresh, exchange, revoke, un-revoke, signing-key rotation and configuration change ' +
        '(namespaces, brokers, identity sources, admin keys): who (the admin key id), when, and what (jtis, ' +
        'client ids, kids, settings old and new). Needs `read`; a key scoped to one namespace sees only that ' +
        'namespace’s events. Events are written in the same transaction as the change they record, and ' +
        'kept GATEPASS_AUDIT_RETENTION_DAYS days (365 by default).',
      security: adminSecurity,
      request: { query: AuditQuery },
      responses: {
        200: jsonResponse('Events, newest first', z.array(AuditEventSchema), true),
        ...adminErrors,
      },
    }),
    async (c) => {
      const { page, per_page, since, ...filters } = c.req.valid('query');
      const query = Object.fromEntries(Object.entries(filters).filter(([, value]) => value !== undefined));
      const result = await c.var.services.audit.list(
        c.get('actor'),
        { ...query, ...(since === undefined ? {} : { since: Date.parse(since) }) },
        { page, perPage: per_page },
      );
      return c.json(pagedSuccess(result, auditEventJson), 200);
    },
  );
}
