// /credentials: issue a batch of signed credentials (GET for curl and wrangler, POST for backends).
import { createRoute } from '@hono/zod-openapi';
import type { Api } from '../context.js';
import { success } from '../envelope.js';
import { mangledFilterWarnings } from '../query-filters.js';
import { BrokerParams, Credentials, CredentialsBody, CredentialsQuery } from '../schemas.js';
import { adminSecurity, errorResponses, jsonBody, jsonResponse, writeErrors } from './common.js';

const tags = ['Credentials'];
const path = '/namespaces/{namespace}/brokers/{broker}/credentials';
const description =
  'Each token binds `sub` to its client ID. Expiration: the broker’s and the request’s, the shorter applies; ' +
  '`-1` asks for no `exp` and is refused when the broker sets an expiration. With `clientid`, exactly those ' +
  'client IDs get tokens (and `number` is ignored); otherwise `number` ULID client IDs are generated.';

export function registerCredentialRoutes(api: Api) {
  api.openapi(
    createRoute({
      method: 'get',
      path,
      tags,
      summary: 'Issue credentials (query form, as Cloudflare Pub/Sub)',
      description:
        `${description} Filters may be double-quoted (\`topicAcl="#"\`, as Cloudflare’s examples write it). ` +
        'Encode the query: an unencoded `+` arrives as a space and an unencoded `#` is never sent; ' +
        '`messages` warns about a filter with a space or an empty last level.',
      security: adminSecurity,
      request: { params: BrokerParams, query: CredentialsQuery },
      responses: {
        200: jsonResponse('Client ID -> JWT', Credentials),
        ...errorResponses(400, 401, 403, 404, 429),
      },
    }),
    async (c) => {
      const { namespace, broker } = c.req.valid('param');
      const request = c.req.valid('query');
      const issued = await c.var.services.credentials.issue(c.get('actor'), namespace, broker, request);
      return c.json({ ...success(issued), messages: mangledFilterWarnings(request.topicAcl) }, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'post',
      path,
      tags,
      summary: 'Issue credentials (JSON body, for backends)',
      description,
      security: adminSecurity,
      request: { params: BrokerParams, body: jsonBody(CredentialsBody) },
      responses: {
        200: jsonResponse('Client ID -> JWT', Credentials),
        ...writeErrors,
        ...errorResponses(429),
      },
    }),
    async (c) => {
      const { namespace, broker } = c.req.valid('param');
      const issued = await c.var.services.credentials.issue(
        c.get('actor'),
        namespace,
        broker,
        c.req.valid('json'),
      );
      return c.json(success(issued), 200);
    },
  );
}
