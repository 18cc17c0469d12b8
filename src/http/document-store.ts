import type { ApolloServerOptions } from '@apollo/server';
import type { DocumentNode } from 'graphql';
import { currentRequestScope } from '../observability/request-scope.js';

type DocumentStore = NonNullable<ApolloServerOptions<never>['documentStore']>;

/**
 * Apollo's cache of parsed and validated documents, kept per caller. Apollo's default is one cache per process keyed
 * by the query's hash: a caller with no scope could time whether anyone had sent a given query text (a lookup with a
 * guessed email inlined as a literal answered in 4 ms instead of 6; a regression probe). Keyed by the caller's `sub`
 * as well, a caller's repeat is still served from the cache and nobody else's is. At most `maxEntries` documents (the
 * oldest used is dropped first).
 */
export class CallerDocumentStore implements DocumentStore {
  private readonly documents = new Map<string, DocumentNode>();

  constructor(private readonly maxEntries = 1000) {}

  async get(key: string): Promise<DocumentNode | undefined> {
    const scoped = scopedKey(key);
    const document = this.documents.get(scoped);
    if (document !== undefined) {
      // Most recently used last: Map keeps insertion order.
      this.documents.delete(scoped);
      this.documents.set(scoped, document);
    }
    return document;
  }

  async set(key: string, value: DocumentNode): Promise<void> {
    const scoped = scopedKey(key);
    this.documents.delete(scoped);
    this.documents.set(scoped, value);
    if (this.documents.size > this.maxEntries) this.documents.delete(this.documents.keys().next().value as string);
  }

  async delete(key: string): Promise<boolean> {
    return this.documents.delete(scopedKey(key));
  }
}

/** The key under the caller of the request being served (set once its token is verified); none outside a request. */
function scopedKey(key: string): string {
  return `${JSON.stringify(currentRequestScope()?.callerId ?? null)}:${key}`;
}
