import type { Logger } from 'pino';
import type { Caller } from './auth/caller.js';
import type { Channel } from './context-snapshots/snapshot-types.js';
import type { Services } from './services.js';
import type { RequestLoaders } from './loaders.js';

/** Everything one GraphQL request carries. Built per request; nothing in it is shared. */
export interface RequestContext {
  requestId: string;
  caller: Caller;
  services: Services;
  loaders: RequestLoaders;
  log: Logger;
  /**
   * The interaction each customer was resolved in by this request (`resolveCustomer` with a channel or an
   * interaction id): a context read of them in the same request is recorded with it (CONTEXT_READ channel and
   * interactionId), so an auditor sees which call it served. Optional for contexts built outside a request.
   */
  interactions?: Map<string, { channel: Channel | null; interactionId: string | null }>;
}
