import type { Logger } from 'pino';
import type { Caller } from './auth/caller.js';
import type { Services } from './services.js';
import type { RequestLoaders } from './loaders.js';

/** Everything one GraphQL request carries. Built per request; nothing in it is shared. */
export interface RequestContext {
  requestId: string;
  caller: Caller;
  services: Services;
  loaders: RequestLoaders;
  log: Logger;
}
