/**
 * The scope half of the field policy as `@requiresScopes` in the subgraph SDL,
 * so that a GraphOS Router can enforce it too: served by `_service { sdl }`,
 * one directive per scoped or PII field straight from the table, and still
 * composing into a supergraph with another subgraph.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeServices } from '@apollo/composition';
import { ApolloGateway } from '@apollo/gateway';
import { Kind, parse, print, visit, type DocumentNode } from 'graphql';
import { FIELD_POLICY } from '../src/policy/policy-table.js';
import { applyRequiresScopes, requiredScopesOf } from '../src/policy/router-directives.js';
import { loadTypeDefs } from '../src/schema-loader.js';
import { startTestApp, type TestApp } from './testkit/test-app.js';

let app: TestApp;
let sdl: string;

beforeAll(async () => {
  app = await startTestApp();
  const res = await app.graphql<{ _service: { sdl: string } }>(await app.token([], 'router'), '{ _service { sdl } }');
  expect(res.body.errors).toBeUndefined();
  sdl = res.body.data!._service.sdl;
});
afterAll(async () => {
  await app?.stop();
});

/** `Type.field` -> the scopes of its @requiresScopes, from an SDL document. */
function directivesIn(doc: DocumentNode): Map<string, string[][]> {
  const found = new Map<string, string[][]>();
  let typeName = '';
  visit(doc, {
    ObjectTypeDefinition: { enter: (node) => void (typeName = node.name.value) },
    ObjectTypeExtension: { enter: (node) => void (typeName = node.name.value) },
    InterfaceTypeDefinition: { enter: (node) => void (typeName = node.name.value) },
    FieldDefinition: (node) => {
      const directive = node.directives?.find((d) => d.name.value === 'requiresScopes');
      const value = directive?.arguments?.find((a) => a.name.value === 'scopes')?.value;
      if (!value || value.kind !== Kind.LIST) return;
      found.set(
        `${typeName}.${node.name.value}`,
        value.values.map((group) => (group.kind === Kind.LIST ? group.values.map((s) => (s.kind === Kind.STRING ? s.value : '?')) : ['?'])),
      );
    },
  });
  return found;
}

describe('the SDL a router fetches from _service', () => {
  it('carries the directive on the personal fields: the masked scopes or pii:read', () => {
    const flat = sdl.replace(/\s+/g, ' ');
    expect(flat).toContain('email: String @requiresScopes(scopes: [["customer:read"], ["pii:read"]])');
    expect(flat).toContain('phone: String @requiresScopes(scopes: [["customer:read"], ["pii:read"]])');
  });

  it('writes an AND-group where a field needs two scopes together', () => {
    expect(sdl.replace(/\s+/g, ' ')).toContain('deviceFingerprint: String @requiresScopes(scopes: [["context:read", "fraud:read"]])');
  });

  it('has exactly one directive per scoped or PII field of the table, with the table scopes, and none on open fields', () => {
    const found = directivesIn(parse(sdl));
    const expected = new Map<string, string[][]>();
    for (const [type, fields] of Object.entries(FIELD_POLICY)) {
      for (const [field, rule] of Object.entries(fields)) {
        const groups = requiredScopesOf(rule);
        if (groups) expected.set(`${type}.${field}`, groups);
      }
    }
    expect(Object.fromEntries(found)).toEqual(Object.fromEntries(expected));
    expect(found.has('Identifier.hash')).toBe(false);
    expect(found.get('Customer.identifiers')).toEqual([['identity:resolve'], ['identity:write']]);
    // Consent is the subgraph's business: the router sees only context:read on the consent-gated lists.
    expect(found.get('ContextSnapshot.openTickets')).toEqual([['context:read']]);
  });

  it('still composes into a supergraph next to another subgraph that extends Customer', () => {
    const orders = parse(`
      extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
      type Customer @key(fields: "id") { id: ID! orders: [Order!]! }
      type Order { id: ID! totalMinor: Int! }
      type Query { order(id: ID!): Order }
    `);
    const result = composeServices([
      { name: 'identity', url: 'http://identity:4001/graphql', typeDefs: parse(sdl) },
      { name: 'orders', url: 'http://orders:4002/graphql', typeDefs: orders },
    ]);
    expect(result.errors?.map((e) => e.message) ?? []).toEqual([]);
    const supergraph = result.supergraphSdl ?? '';
    expect(supergraph).toContain('https://specs.apollo.dev/requiresScopes/v0.1');
    expect(supergraph.replace(/\s+/g, ' ')).toContain('email: String @join__field(graph: IDENTITY) @requiresScopes(scopes: [["customer:read"], ["pii:read"]])');
  });
});

describe('with POLICY_ROUTER_DIRECTIVES=false, for an @apollo/gateway deployment', () => {
  it('serves the SDL without @requiresScopes, and the gateway that refuses them loads the supergraph', async () => {
    const plain = await startTestApp({ env: { POLICY_ROUTER_DIRECTIVES: 'false' } });
    try {
      const res = await plain.graphql<{ _service: { sdl: string } }>(await plain.token([], 'gateway'), '{ _service { sdl } }');
      const plainSdl = res.body.data!._service.sdl;
      expect(plainSdl).not.toContain('@requiresScopes(scopes: [["');
      const compose = (typeDefs: string) => composeServices([{ name: 'identity', url: 'http://identity:4001/graphql', typeDefs: parse(typeDefs) }]).supergraphSdl ?? '';
      await expect(new ApolloGateway({ supergraphSdl: compose(plainSdl) }).load()).resolves.toBeDefined();
      // The control: the default SDL is refused by @apollo/gateway (the link is `for: SECURITY`).
      await expect(new ApolloGateway({ supergraphSdl: compose(sdl) }).load()).rejects.toThrow(/requiresScopes.*is for: SECURITY but is unsupported/);
    } finally {
      await plain.stop();
    }
  });

  it('still enforces the scopes in the subgraph itself', async () => {
    const plain = await startTestApp({ env: { POLICY_ROUTER_DIRECTIVES: 'false' } });
    try {
      const res = await plain.graphql(await plain.token(['context:read'], 'agent-no-customer'), '{ customer(id: "cus_00000000000000000000000000") { id } }');
      expect(res.body.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    } finally {
      await plain.stop();
    }
  });
});

describe('applyRequiresScopes', () => {
  it('refuses a hand-written @requiresScopes: the table is the only source of scopes', () => {
    const typeDefs = parse(print(loadTypeDefs()).replace('  country: String\n', '  country: String @requiresScopes(scopes: [["anyone"]])\n'));
    expect(() => applyRequiresScopes(typeDefs)).toThrow('Customer.country declares @requiresScopes in the SDL; scopes come from the policy table');
  });

  it('imports @requiresScopes through the federation @link only when it adds the directives', () => {
    const plain = print(loadTypeDefs());
    expect(plain).not.toContain('@requiresScopes');
    const annotated = print(applyRequiresScopes(loadTypeDefs())).replace(/\s+/g, ' ');
    expect(annotated).toContain('import: ["@key", "@shareable", "@requiresScopes"]');
    // Applying twice does not import twice.
    expect(print(applyRequiresScopes(parse(plain.replace('"@shareable"]', '"@shareable", "@requiresScopes"]'))))).not.toMatch(/"@requiresScopes", "@requiresScopes"/);
  });
});
