// Real identity sources on loopback for token-exchange tests: an IdP (node:http serving a JWKS, signing with
// jose, able to roll its key over) and a webhook whose answers and delays each test decides.
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export interface LocalIdp {
  /** Also the issuer (`iss`) of its tokens. */
  url: string;
  jwksUrl: string;
  /** How many times the JWKS was served. */
  readonly jwksFetches: number;
  /** Signs `claims` over defaults: `iss` this IdP, `iat` now, `exp` in five minutes; `kid` overrides the key id. */
  sign(claims: JWTPayload, options?: { kid?: string }): Promise<string>;
  /** Switches to a new key with a new kid; the JWKS then serves only the new key. */
  rotate(): Promise<void>;
  close(): Promise<void>;
}

export async function startIdp(algorithm: 'ES256' | 'RS256' | 'EdDSA' = 'ES256'): Promise<LocalIdp> {
  async function newKey() {
    const { privateKey, publicKey } = await generateKeyPair(algorithm);
    const jwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(jwk);
    return { privateKey, publicJwk: { ...jwk, kid, alg: algorithm, use: 'sig' } };
  }
  let key = await newKey();
  let jwksFetches = 0;
  const server = createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/.well-known/jwks.json') {
      jwksFetches++;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ keys: [key.publicJwk] }));
      return;
    }
    response.writeHead(404).end();
  });
  const url = await listen(server);
  return {
    url,
    jwksUrl: `${url}/.well-known/jwks.json`,
    get jwksFetches() {
      return jwksFetches;
    },
    sign(claims, { kid = key.publicJwk.kid } = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: url, iat: now, exp: now + 300, ...claims })
        .setProtectedHeader({ alg: algorithm, kid, typ: 'JWT' })
        .sign(key.privateKey);
    },
    async rotate() {
      key = await newKey();
    },
    close: () => close(server),
  };
}

export interface WebhookCall {
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface WebhookReply {
  status: number;
  /** JSON-encoded unless a string. */
  body?: unknown;
  /** Wait before sending anything. */
  delayMs?: number;
  /** Send the status and headers at once, then wait this long before the body. */
  bodyDelayMs?: number;
}

export interface LocalWebhook {
  url: string;
  calls: WebhookCall[];
  close(): Promise<void>;
}

export async function startWebhook(answer: (call: WebhookCall) => WebhookReply): Promise<LocalWebhook> {
  const calls: WebhookCall[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, run: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, ms);
    timers.add(timer);
  };
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const call = { headers: request.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
    calls.push(call);
    const reply = answer(call);
    const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? null);
    const send = () => {
      response.writeHead(reply.status, { 'content-type': 'application/json' });
      if (reply.bodyDelayMs === undefined) {
        response.end(text);
        return;
      }
      response.flushHeaders();
      later(reply.bodyDelayMs, () => response.end(text));
    };
    if (reply.delayMs === undefined) send();
    else later(reply.delayMs, send);
  });
  const url = await listen(server);
  return {
    url,
    calls,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      await close(server);
    },
  };
}
