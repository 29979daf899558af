// The part of EMQX's REST API a revocation sink calls, as EMQX describes it, on a loopback receiver: EMQX itself
// cannot run here. From github:emqx/emqx (v5.8.2 and master alike):
// - emqx_mgmt_api_clients.erl, schema("/clients/:clientid"): `delete` answers 204 "Kick out client
//   successfully" or 404 with error code CLIENTID_NOT_FOUND; kickout/1 maps emqx_mgmt:kickout_client's
//   {error, not_found} to 404 `{"code": "CLIENTID_NOT_FOUND", "message": "Client ID not found"}`.
// - emqx_dashboard_swagger.erl: every path under the base path "/api/v5"; cowboy's router percent-decodes
//   path segments, so the client id is the decoded segment.
// - emqx_dashboard.erl, authorize/2 and api_key_authorize/4: `Authorization: Basic <api key:secret>`; a bad key
//   or secret is 401 `{"code": "BAD_API_KEY_OR_SECRET", "message": "Check api_key/api_secret"}` with
//   `WWW-Authenticate: Basic Realm="emqx-dashboard"`; a missing header is 401 AUTHORIZATION_HEADER_ERROR.
import { type Answer, type Received, type Receiver, startReceiver } from './receiver.js';

export interface EmqxApi extends Receiver {
  /** Client ids connected now: a kick removes one. */
  connected: Set<string>;
  /** The client ids kicked, in order. */
  kicked: string[];
}

const unauthorized = (code: string, message: string): Answer => ({
  status: 401,
  headers: { 'www-authenticate': 'Basic Realm="emqx-dashboard"' },
  body: { code, message },
});

export async function startEmqxApi(apiKey: string, apiSecret: string): Promise<EmqxApi> {
  const receiver = await startReceiver();
  const api = Object.assign(receiver, { connected: new Set<string>(), kicked: [] as string[] });
  const expected = `Basic ${Buffer.from(`${apiKey}:${apiSecret}`).toString('base64')}`;
  api.respond = (request: Received): Answer => {
    const match = /^\/api\/v5\/clients\/([^/?]+)$/.exec(request.url);
    if (!match) return { status: 404, body: { code: 'NOT_FOUND', message: 'Not Found' } };
    if (request.method !== 'DELETE' && request.method !== 'GET') return { status: 405 };
    const authorization = request.headers.authorization;
    if (authorization === undefined) {
      return unauthorized('AUTHORIZATION_HEADER_ERROR', 'Missing authorization header');
    }
    if (authorization !== expected) return unauthorized('BAD_API_KEY_OR_SECRET', 'Check api_key/api_secret');
    const clientId = decodeURIComponent(match[1]!);
    if (!api.connected.has(clientId)) {
      return { status: 404, body: { code: 'CLIENTID_NOT_FOUND', message: 'Client ID not found' } };
    }
    if (request.method === 'GET') return { status: 200, body: { clientid: clientId, connected: true } };
    api.connected.delete(clientId);
    api.kicked.push(clientId);
    return { status: 204 };
  };
  return api;
}
