// The Hono environment shared by the app and its routes.
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Actor, Services } from '../service/index.js';

export interface AppEnv {
  Variables: {
    actor: Actor;
    services: Services;
    /** Why a presented credential was refused (refresh): logged with the request, never sent. */
    refusal: string;
  };
}

export type Api = OpenAPIHono<AppEnv>;
