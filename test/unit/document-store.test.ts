import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { CallerDocumentStore } from '../../src/http/document-store.js';
import { runInRequestScope } from '../../src/observability/request-scope.js';

describe('the parsed-document cache', () => {
  const document = parse('{ __typename }');
  const as = <T>(callerId: string | undefined, run: () => T): T => runInRequestScope({ requestId: 'r', ...(callerId ? { callerId } : {}) }, run);

  it("serves a caller its own documents and nobody else's", async () => {
    const store = new CallerDocumentStore();
    await as('agent-a', () => store.set('schema:hash-1', document));
    expect(await as('agent-a', () => store.get('schema:hash-1'))).toBe(document);
    // Another caller, or none, misses: it cannot time whether agent-a sent this text (a regression probe).
    expect(await as('agent-b', () => store.get('schema:hash-1'))).toBeUndefined();
    expect(await as(undefined, () => store.get('schema:hash-1'))).toBeUndefined();
    expect(await as('agent-a', () => store.delete('schema:hash-1'))).toBe(true);
    expect(await as('agent-a', () => store.get('schema:hash-1'))).toBeUndefined();
  });

  it('keeps at most its maximum, dropping the least recently used', async () => {
    // Each document below has 5 tokens (start, {, __typename, }, end): room for two.
    const store = new CallerDocumentStore(10, 5);
    await as('a', async () => {
      await store.set('k1', document);
      await store.set('k2', document);
      await store.get('k1');
      await store.set('k3', document);
      expect(await store.get('k1')).toBe(document);
      expect(await store.get('k2')).toBeUndefined();
      expect(await store.get('k3')).toBe(document);
    });
  });

  it('keeps the tokens of its documents under its budget, and no document over its own limit', async () => {
    // A document's weight is its lexical tokens: dense fragment spreads pinned 200 MB under a budget of characters.
    const store = new CallerDocumentStore(40, 12);
    const withTokens = (n: number) => parse(`{ ${'__typename '.repeat(n - 3)}}`);
    expect(withTokens(12).loc?.endToken.prev?.kind).toBe('}');
    await as('a', async () => {
      await store.set('heavy', withTokens(13));
      expect(await store.get('heavy')).toBeUndefined();
      for (const key of ['k1', 'k2', 'k3', 'k4']) await store.set(key, withTokens(10));
      expect(await store.get('k1')).toBeUndefined();
      for (const key of ['k2', 'k3', 'k4']) expect(await store.get(key)).toBeDefined();
    });
  });
});
