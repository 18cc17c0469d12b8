import type { ApolloServerOptions } from '@apollo/server';
import type { DocumentNode, Token } from 'graphql';
import { currentRequestScope } from '../observability/request-scope.js';

type DocumentStore = NonNullable<ApolloServerOptions<never>['documentStore']>;

/**
 * Apollo's cache of parsed and validated documents, kept per caller. Apollo's default is one cache per process keyed
 * by the query's hash: a caller with no scope could time whether anyone had sent a given query text (a lookup with a
 * guessed email inlined as a literal answered in 4 ms instead of 6; a regression probe). Keyed by the caller's `sub`
 * as well, a caller's repeat is still served from the cache and nobody else's is.
 *
 * Bounded by the documents' weight, their lexical tokens (a parsed document keeps its token list, each token an
 * object, and a node or so per token: about 250 bytes each): `maxTokens` in all, none above `maxTokensPerDocument`
 * (heavier documents are parsed again each time), the least recently used dropped first. A count of entries let one
 * caller's 1,000 documents of 95 KB each add 100 MB, and a budget of source characters 200 MB with dense fragment
 * spreads (regression probes). Any caller's documents push out others' (which are then parsed again).
 */
export class CallerDocumentStore implements DocumentStore {
  private readonly documents = new Map<string, { document: DocumentNode; tokens: number }>();
  private tokens = 0;

  constructor(
    private readonly maxTokens = 100_000,
    private readonly maxTokensPerDocument = 2_000,
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
    const tokens = tokenCount(value, this.maxTokensPerDocument);
    if (tokens > this.maxTokensPerDocument) return;
    const scoped = scopedKey(key);
    this.remove(scoped);
    this.documents.set(scoped, { document: value, tokens });
    this.tokens += tokens;
    while (this.tokens > this.maxTokens) this.remove(this.documents.keys().next().value as string);
  }

  async delete(key: string): Promise<boolean> {
    return this.remove(scopedKey(key));
  }

  private remove(scoped: string): boolean {
    const entry = this.documents.get(scoped);
    if (entry === undefined) return false;
    this.documents.delete(scoped);
    this.tokens -= entry.tokens;
    return true;
  }
}

/** The lexical tokens a parsed document keeps (its location's token list), counted up to `limit + 1`; without one, over the limit. */
function tokenCount(document: DocumentNode, limit: number): number {
  let token: Token | null | undefined = document.loc?.startToken;
  if (token === undefined) return limit + 1;
  let count = 0;
  while (token && count <= limit) {
    count += 1;
    token = token.next;
  }
  return count;
}

/** The key under the caller of the request being served (set once its token is verified); none outside a request. */
function scopedKey(key: string): string {
  return `${JSON.stringify(currentRequestScope()?.callerId ?? null)}:${key}`;
}
