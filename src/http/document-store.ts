import type { ApolloServerOptions } from '@apollo/server';
import type { DocumentNode } from 'graphql';
import { currentRequestScope } from '../observability/request-scope.js';

type DocumentStore = NonNullable<ApolloServerOptions<never>['documentStore']>;

/**
 * Apollo's cache of parsed and validated documents, kept per caller. Apollo's default is one cache per process keyed
 * by the query's hash: a caller with no scope could time whether anyone had sent a given query text (a lookup with a
 * guessed email inlined as a literal answered in 4 ms instead of 6; a regression probe). Keyed by the caller's `sub`
 * as well, a caller's repeat is still served from the cache and nobody else's is. Bounded by the total length of the
 * cached documents' source text (`maxSourceChars`; a parsed document takes several times its text) and by
 * `maxEntries`, the least recently used dropped first: a count alone let one caller's 1,000 documents of 95 KB each
 * add 100 MB to the process (a regression probe).
 */
export class CallerDocumentStore implements DocumentStore {
  private readonly documents = new Map<string, { document: DocumentNode; chars: number }>();
  private chars = 0;

  constructor(
    private readonly maxEntries = 1000,
    private readonly maxSourceChars = 2_000_000,
  ) {}

  async get(key: string): Promise<DocumentNode | undefined> {
    const scoped = scopedKey(key);
    const entry = this.documents.get(scoped);
    if (entry !== undefined) {
      // Most recently used last: Map keeps insertion order.
      this.documents.delete(scoped);
      this.documents.set(scoped, entry);
    }
    return entry?.document;
  }

  async set(key: string, value: DocumentNode): Promise<void> {
    const scoped = scopedKey(key);
    const chars = value.loc?.source.body.length ?? 0;
    // A document larger than the whole budget is not kept: it would push out every other.
    if (chars > this.maxSourceChars / 4) return;
    this.remove(scoped);
    this.documents.set(scoped, { document: value, chars });
    this.chars += chars;
    while (this.documents.size > this.maxEntries || this.chars > this.maxSourceChars) this.remove(this.documents.keys().next().value as string);
  }

  async delete(key: string): Promise<boolean> {
    return this.remove(scopedKey(key));
  }

  private remove(scoped: string): boolean {
    const entry = this.documents.get(scoped);
    if (entry === undefined) return false;
    this.documents.delete(scoped);
    this.chars -= entry.chars;
    return true;
  }
}

/** The key under the caller of the request being served (set once its token is verified); none outside a request. */
function scopedKey(key: string): string {
  return `${JSON.stringify(currentRequestScope()?.callerId ?? null)}:${key}`;
}
