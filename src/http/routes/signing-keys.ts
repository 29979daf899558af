// /namespaces/{namespace}/brokers/{broker}/signing-keys: list a broker's keys, rotate now, revoke one.
import { createRoute, z } from '@hono/zod-openapi';
import { KEY_PREPUBLICATION_SECONDS } from '../../core/signing-keys.js';
import type { Api } from '../context.js';
import { success } from '../envelope.js';
import { BrokerParams, SigningKey, SigningKeyParams } from '../schemas.js';
import { signingKeyJson } from '../views.js';
import { adminErrors, adminSecurity, errorResponses, jsonResponse } from './common.js';

const tags = ['Signing keys'];
const path = '/namespaces/{namespace}/brokers/{broker}/signing-keys';
const keyList = (description: string) => jsonResponse(description, z.array(SigningKey));

export function registerSigningKeyRoutes(api: Api) {
  api.openapi(
    createRoute({
      method: 'get',
      path,
      tags,
      summary: 'List the broker’s signing keys and their states (next, current, retired, revoked)',
      security: adminSecurity,
      request: { params: BrokerParams },
      responses: { 200: keyList('Every key on record, newest first'), ...adminErrors },
    }),
    async (c) => {
      const { namespace, broker } = c.req.valid('param');
      const keys = await c.var.services.signingKeys.list(c.get('actor'), namespace, broker);
      return c.json(success(keys.map(signingKeyJson)), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: `${path}/rotate`,
      tags,
      summary: 'Rotate now: the next key signs from now on, a new next key is published',
      description:
        'The key that signed until now stays published while its tokens can live. Refused with 409 while the next ' +
        `key has been published for less than ${KEY_PREPUBLICATION_SECONDS} seconds (verifiers caching the key set ` +
        'may not know it yet); to stop a compromised key at once, revoke it.',
      security: adminSecurity,
      request: { params: BrokerParams },
      responses: {
        200: keyList('The broker’s keys after the rotation'),
        ...adminErrors,
        ...errorResponses(409),
      },
    }),
    async (c) => {
      const { namespace, broker } = c.req.valid('param');
      const keys = await c.var.services.signingKeys.rotate(c.get('actor'), namespace, broker);
      return c.json(success(keys.map(signingKeyJson)), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path: `${path}/{kid}/revoke`,
      tags,
      summary: 'Revoke a compromised key: out of the key set at once, its tokens refused',
      description:
        'Revoking the current key promotes the next one at once; revoking the next key publishes a new one. The ' +
        'private key is erased. Revoking a revoked key changes nothing.',
      security: adminSecurity,
      request: { params: SigningKeyParams },
      responses: {
        200: keyList('The broker’s keys after the revocation'),
        ...adminErrors,
        ...errorResponses(409),
      },
    }),
    async (c) => {
      const { namespace, broker, kid } = c.req.valid('param');
      const keys = await c.var.services.signingKeys.revoke(c.get('actor'), namespace, broker, kid);
      return c.json(success(keys.map(signingKeyJson)), 200);
    },
  );
}
