// Calls a running gatepass over HTTP (the Node server or the Worker), reading the JSON envelope back.

export interface CallOptions {
  token?: string | null;
  json?: unknown;
  body?: string;
  headers?: Record<string, string>;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read whatever the envelope holds
  body: any;
}

/** Calls the API with `defaultToken` unless `token` says otherwise (null: no key). */
export type Call = (method: string, path: string, options?: CallOptions) => Promise<ApiResponse>;

/** `baseUrl` is read on every call, so a server that restarts on another port is followed. */
export function createCall(baseUrl: () => string, defaultToken: string): Call {
  return async (method, path, { token = defaultToken, json, body, headers = {} } = {}) => {
    const response = await fetch(`${baseUrl()}${path}`, {
      method,
      headers: {
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(json === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(json === undefined ? (body === undefined ? {} : { body }) : { body: JSON.stringify(json) }),
    });
    const text = await response.text();
    let parsedBody: unknown = text;
    try {
      parsedBody = JSON.parse(text);
    } catch {}
    return { status: response.status, headers: response.headers, body: parsedBody };
  };
}
