import { AsyncLocalStorage } from 'node:async_hooks';

export interface RequestScope {
  requestId: string;
}

/**
 * The request being served, for code that logs without a request's child
 * logger at hand (services built once per process, Apollo's error formatter):
 * the logger's mixin reads it, so every line written while serving a request
 * carries its requestId.
 */
const storage = new AsyncLocalStorage<RequestScope>();

export function runInRequestScope<T>(scope: RequestScope, run: () => T): T {
  return storage.run(scope, run);
}

export function currentRequestScope(): RequestScope | undefined {
  return storage.getStore();
}
