import { describe, expect, it } from 'vitest';
import { documentTooDeep, MAX_DOCUMENT_NESTING } from '../../src/hardening/operation-limits.js';

/** `count` named fragments spreading one another, each nesting `inner` inline fragments around the next spread. */
function fragmentChain(count: number, inner: number, typeCondition = 'Query'): string {
  const fragments = Array.from({ length: count }, (_, f) => {
    const next = f + 1 < count ? `...F${f + 1}` : '__typename';
    return `fragment F${f} on ${typeCondition} { ${'... { '.repeat(inner)}${next}${' }'.repeat(inner)} }`;
  });
  return `query Chain { ...F0 }\n${fragments.join('\n')}`;
}

describe('documentTooDeep', () => {
  it('counts the nesting of the fragments a document spreads, spelled out in place', () => {
    // A regression probe: 30 fragments of 199 inline fragments each overflowed the executor's stack with MAX_TOKENS
    // raised, while each fragment alone was under the limit.
    expect(documentTooDeep(fragmentChain(30, 199))).toBe('nesting');
    expect(documentTooDeep(fragmentChain(2, 120))).toBe('nesting');
    // 2 fragments of 90 levels, each with its own braces, the query's and the spread's: 1 + (92 + 92) stays under 200.
    expect(documentTooDeep(fragmentChain(2, 90))).toBeNull();
    // A spread deep inside a selection counts from where it stands.
    const deepSpread = `query { ${'a { '.repeat(150)}...F${' }'.repeat(150)} } fragment F on A { ${'b { '.repeat(60)}c${' }'.repeat(60)} }`;
    expect(documentTooDeep(deepSpread)).toBe('nesting');
    expect(documentTooDeep(deepSpread.replace('b { '.repeat(60), 'b { '.repeat(40)).replace(' }'.repeat(61), ' }'.repeat(41)))).toBeNull();
  });

  it('finds the fragments whatever comes before or between them', () => {
    // A definition with no braces (refused by validation, which ran too late) hid the fragments after it from a reading
    // that followed the braces.
    expect(documentTooDeep(fragmentChain(30, 199).replaceAll('fragment F', 'directive @x on FIELD\nfragment F'))).toBe('nesting');
    expect(documentTooDeep(`scalar S\n${fragmentChain(3, 90)}`)).toBe('nesting');
    // Names that are keywords elsewhere, directives with arguments, several operations.
    const keywords = `query fragment($v: [[Int]] = [[1]]) @skip(if: false) { ...query } query other { __typename }\n` + fragmentChain(3, 90).replace('query Chain { ...F0 }', '').replaceAll('F0', 'query');
    expect(documentTooDeep(keywords)).toBe('nesting');
    expect(documentTooDeep(`\uFEFF${fragmentChain(30, 199)}`)).toBe('nesting');
    expect(documentTooDeep(fragmentChain(30, 199).replaceAll('...F', '... F').replaceAll(' }', ' ,}'))).toBe('nesting');
    expect(documentTooDeep(fragmentChain(30, 199).replaceAll(/\.\.\.(F\d+)/g, '...$1 @include(if: true)'))).toBe('nesting');
  });

  it('reads a fragment spread many times, or from many fragments, once', () => {
    // Each of 150 fragments spreads the next twice: spelled out, 2^150 copies; measured, one pass each.
    const fanOut = Array.from({ length: 150 }, (_, f) => `fragment F${f} on Query { ${f + 1 < 150 ? `a: __typename ...F${f + 1} ...F${f + 1}` : '__typename'} }`).join('\n');
    expect(documentTooDeep(`{ ...F0 }\n${fanOut}`)).toBeNull();
    const deeper = Array.from({ length: 150 }, (_, f) => `fragment F${f} on Query { x { ${f + 1 < 150 ? `...F${f + 1} ...F${f + 1}` : '__typename'} } }`).join('\n');
    expect(documentTooDeep(`{ ...F0 }\n${deeper}`)).toBe('nesting');
  });

  it('counts the fragments a document defines, duplicates and unused ones included', () => {
    const flat = (count: number, name = (i: number) => `F${i}`) =>
      `query Q($id: ID!) { customer(id: $id) { ${Array.from({ length: count }, (_, i) => `...${name(i)}`).join(' ')} } }\n` +
      Array.from({ length: count }, (_, i) => `fragment ${name(i)} on Customer { id }`).join('\n');
    expect(documentTooDeep(flat(MAX_DOCUMENT_NESTING))).toBeNull();
    expect(documentTooDeep(flat(MAX_DOCUMENT_NESTING + 1))).toBe('fragments');
    expect(documentTooDeep(flat(MAX_DOCUMENT_NESTING + 1, () => 'Same'))).toBe('fragments');
    // A name defined twice is measured by its deeper definition.
    const twice = `{ ...F } fragment F on Query { __typename } fragment F on Query { ${'... { '.repeat(190)}__typename${' }'.repeat(190)} } fragment G on Query { ...F }`;
    expect(documentTooDeep(`query { ${'a { '.repeat(20)}...F${' }'.repeat(20)} }\n${twice}`)).toBe('nesting');
  });

  it('passes over what is not nesting: strings, comments, variables, cycles and unreadable documents', () => {
    const padding = ` # ${'{'.repeat(500)}\n`;
    expect(documentTooDeep(`query Q($a: String = "${'{'.repeat(500)}") {${padding} __typename }`)).toBeNull();
    expect(documentTooDeep(`query Q($a: Int = 1, $b: [[Int]] = [[1]]) @include(if: true) { ...A }${padding} fragment A on Query { ...B } fragment B on Query { __typename }`)).toBeNull();
    // Fragments spreading one another in a cycle are validation's to refuse.
    expect(documentTooDeep(`{ ...A }${padding} fragment A on Query { x { ...B } } fragment B on Query { y { ...A } }`)).toBeNull();
    expect(documentTooDeep(`{ "unterminated ${'{'.repeat(500)}`)).toBeNull();
    expect(documentTooDeep(`{ ${'['.repeat(MAX_DOCUMENT_NESTING + 1)}${padding}`)).toBe('nesting');
    expect(documentTooDeep(`{ ${'['.repeat(MAX_DOCUMENT_NESTING - 1)}${padding}`)).toBeNull();
    // Past MAX_TOKENS Apollo refuses the document unparsed: it is read no further (a regression probe timed the rest).
    expect(documentTooDeep(`{ ${'['.repeat(MAX_DOCUMENT_NESTING + 1)}${padding}`, MAX_DOCUMENT_NESTING - 10)).toBeNull();
    expect(documentTooDeep(fragmentChain(30, 199), 5_000)).toBeNull();
    expect(documentTooDeep(fragmentChain(30, 199), 100_000)).toBe('nesting');
  });
});
