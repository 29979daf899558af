// 405 for a path that exists under other methods, with `Allow` (RFC 9110 §15.5.6), before authentication
// runs: a wrong method is a routing answer, and a 401 for it (or a 404) would send the caller the wrong way.
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { METHOD_NAME_ALL } from 'hono/router';
import { TrieRouter } from 'hono/router/trie-router';
import type { RouterRoute } from 'hono/types';
import { renderFailure } from './envelope.js';

/** Middleware (`use`) is registered for every method; a route is registered for its own. */
const isRoute = (route: RouterRoute) => route.method !== METHOD_NAME_ALL;

/**
 * `routes` is read on the first request, once every route is registered. Requests that match a route
 * pass at the cost of a look at hono's own match; only the others are matched again, against every method.
 */
export function methodNotAllowed(routes: () => readonly RouterRoute[]): MiddlewareHandler {
  let methodsByPath: TrieRouter<string> | undefined;
  const allowedMethods = (path: string): string[] => {
    if (!methodsByPath) {
      methodsByPath = new TrieRouter<string>();
      for (const route of routes().filter(isRoute)) {
        methodsByPath.add(METHOD_NAME_ALL, route.path, route.method);
      }
    }
    const [matches] = methodsByPath.match(METHOD_NAME_ALL, path);
    const methods = new Set(matches.map(([method]) => method));
    // hono answers HEAD with the GET route.
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods].sort();
  };
  return async (c, next) => {
    if (matchedRoutes(c).some(isRoute)) return next();
    const allowed = allowedMethods(c.req.path);
    if (allowed.length === 0) return next();
    c.header('Allow', allowed.join(', '));
    return renderFailure(
      c,
      'method_not_allowed',
      `${c.req.method} is not served at ${c.req.path}; use ${allowed.join(', ')}`,
    );
  };
}
