// /namespaces: create, list, describe, update, delete.
import { createRoute, z } from '@hono/zod-openapi';
import type { Api } from '../context.js';
import { success } from '../envelope.js';
import {
  Namespace,
  NamespaceCreate,
  NamespaceDeleteQuery,
  NamespaceParams,
  NamespaceUpdate,
  PageQuery,
} from '../schemas.js';
import { namespaceJson, pagedSuccess } from '../views.js';
import { adminErrors, adminSecurity, errorResponses, jsonBody, jsonResponse, writeErrors } from './common.js';

const tags = ['Namespaces'];

export function registerNamespaceRoutes(api: Api) {
  api.openapi(
    createRoute({
      method: 'post',
      path: '/namespaces',
      tags,
      summary: 'Create a namespace',
      security: adminSecurity,
      request: { body: jsonBody(NamespaceCreate) },
      responses: {
        200: jsonResponse('The new namespace', Namespace),
        ...writeErrors,
        ...errorResponses(409),
      },
    }),
    async (c) => {
      const namespace = await c.var.services.namespaces.create(c.get('actor'), c.req.valid('json'));
      return c.json(success(namespaceJson(namespace)), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: '/namespaces',
      tags,
      summary: 'List namespaces (a scoped admin key sees only its own)',
      security: adminSecurity,
      request: { query: PageQuery },
      responses: { 200: jsonResponse('Namespaces, by name', z.array(Namespace), true), ...adminErrors },
    }),
    async (c) => {
      const { page, per_page } = c.req.valid('query');
      const result = await c.var.services.namespaces.list(c.get('actor'), { page, perPage: per_page });
      return c.json(pagedSuccess(result, namespaceJson), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: '/namespaces/{namespace}',
      tags,
      summary: 'Describe a namespace',
      security: adminSecurity,
      request: { params: NamespaceParams },
      responses: { 200: jsonResponse('The namespace', Namespace), ...adminErrors },
    }),
    async (c) => {
      const namespace = await c.var.services.namespaces.get(c.get('actor'), c.req.valid('param').namespace);
      return c.json(success(namespaceJson(namespace)), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'patch',
      path: '/namespaces/{namespace}',
      tags,
      summary: 'Update a namespace’s description',
      security: adminSecurity,
      request: { params: NamespaceParams, body: jsonBody(NamespaceUpdate) },
      responses: { 200: jsonResponse('The updated namespace', Namespace), ...writeErrors },
    }),
    async (c) => {
      const { namespace: name } = c.req.valid('param');
      const namespace = await c.var.services.namespaces.update(
        c.get('actor'),
        name,
        c.req.valid('json').description,
      );
      return c.json(success(namespaceJson(namespace)), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'delete',
      path: '/namespaces/{namespace}',
      tags,
      summary: 'Delete a namespace (with its brokers and scoped admin keys only with force=true)',
      description:
        'A namespace that still has brokers is refused (409) unless `force=true`, which deletes its brokers ' +
        '(their signing keys, credential records, revocations and identity sources) and the admin keys ' +
        'scoped to it too. The audit event lists what went.',
      security: adminSecurity,
      request: { params: NamespaceParams, query: NamespaceDeleteQuery },
      responses: { 200: jsonResponse('Deleted', z.null()), ...adminErrors, ...errorResponses(409) },
    }),
    async (c) => {
      await c.var.services.namespaces.delete(c.get('actor'), c.req.valid('param').namespace, {
        force: c.req.valid('query').force,
      });
      return c.json(success(null), 200);
    },
  );
}
