// /admin-keys: create (secret shown once), list, delete.
import { createRoute, z } from '@hono/zod-openapi';
import type { Api } from '../context.js';
import { success } from '../envelope.js';
import { AdminKey, AdminKeyCreate, AdminKeyCreated, AdminKeyParams, PageQuery } from '../schemas.js';
import { adminKeyJson, pagedSuccess } from '../views.js';
import { adminErrors, adminSecurity, errorResponses, jsonBody, jsonResponse, writeErrors } from './common.js';

const tags = ['Admin keys'];

export function registerAdminKeyRoutes(api: Api) {
  api.openapi(
    createRoute({
      method: 'post',
      path: '/admin-keys',
      tags,
      summary: 'Create an admin key, for all namespaces or one, read-only or read-write',
      description: 'The secret (`key`) is in this response only; gatepass stores its SHA-256 digest.',
      security: adminSecurity,
      request: { body: jsonBody(AdminKeyCreate) },
      responses: { 200: jsonResponse('The new key, with its secret', AdminKeyCreated), ...writeErrors },
    }),
    async (c) => {
      const { key, secret } = await c.var.services.adminKeys.create(c.get('actor'), c.req.valid('json'));
      return c.json(success({ ...adminKeyJson(key), key: secret }), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: '/admin-keys',
      tags,
      summary: 'List admin keys (never their secrets)',
      security: adminSecurity,
      request: { query: PageQuery },
      responses: { 200: jsonResponse('Admin keys, oldest first', z.array(AdminKey), true), ...adminErrors },
    }),
    async (c) => {
      const { page, per_page } = c.req.valid('query');
      const result = await c.var.services.adminKeys.list(c.get('actor'), { page, perPage: per_page });
      return c.json(pagedSuccess(result, adminKeyJson), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'delete',
      path: '/admin-keys/{id}',
      tags,
      summary: 'Delete an admin key',
      security: adminSecurity,
      request: { params: AdminKeyParams },
      responses: { 200: jsonResponse('Deleted', z.null()), ...adminErrors, ...errorResponses(409) },
    }),
    async (c) => {
      await c.var.services.adminKeys.delete(c.get('actor'), c.req.valid('param').id);
      return c.json(success(null), 200);
    },
  );
}
