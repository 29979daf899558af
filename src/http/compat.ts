// The Cloudflare-compatible surface: /client/v4/accounts/{account}/pubsub/... is the same API as /v1/...,
// so wrangler's `pubsub` commands and existing scripts work unchanged. The account id is accepted and ignored.

/**
 * wrangler calls `.../pubsub/namespaces/...`; Cloudflare's own documentation (its curl examples) writes
 * `.../brokers/namespaces/...`. Both are served.
 */
const CLOUDFLARE_PREFIX = /^\/client\/v4\/accounts\/[^/]+\/(?:pubsub|brokers)(?=\/)/;

/**
 * Rewrites a Cloudflare-style request onto /v1. Cloudflare's API reads JSON bodies whatever their
 * content type, and wrangler sends them as text/plain (its fetch never sets one), so on this prefix only a
 * text/plain body is taken as JSON, and an empty one as no body.
 */
export function rewriteCloudflareRequest(request: Request): Request {
  const url = new URL(request.url);
  if (!CLOUDFLARE_PREFIX.test(url.pathname)) return request;
  url.pathname = url.pathname.replace(CLOUDFLARE_PREFIX, '/v1');
  const headers = new Headers(request.headers);
  if (headers.get('content-type')?.startsWith('text/plain')) {
    if (headers.get('content-length') === '0') headers.delete('content-type');
    else headers.set('content-type', 'application/json');
  }
  return new Request(url, {
    method: request.method,
    headers,
    body: request.body,
    signal: request.signal,
    // Node's fetch requires this to forward a streamed body.
    ...({ duplex: 'half' } as object),
  });
}

/** wrangler asks which accounts the token can use before any account-scoped call. */
export const CLOUDFLARE_ACCOUNT = { id: 'gatepass', name: 'gatepass' };
