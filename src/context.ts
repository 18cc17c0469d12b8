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
  /**
   * Filled when the response is sent, for the request's log line: the operation Apollo ran (the document's own name,
   * also for a GET or a POST without `operationName`; a probe found it null unless the body named it). An object, as
   * Apollo runs each operation on a shallow copy of the context.
   */
  ran?: {
    operationName: string | null;
  };
}
