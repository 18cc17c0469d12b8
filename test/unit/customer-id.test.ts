import { describe, expect, it } from 'vitest';
import { isCustomerId, isPrefixedId, newCustomerId, newPrefixedId, type IdPrefix } from '../../src/identity/customer-id.js';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

describe('newCustomerId', () => {
  it('makes cus_ followed by 26 Crockford base32 characters', () => {
    const id = newCustomerId();
    expect(id).toMatch(/^cus_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(isCustomerId(id)).toBe(true);
  });

  it('never repeats itself over many ids', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newCustomerId()));
    expect(ids.size).toBe(10_000);
  });

  it('spreads characters over the whole alphabet in every position, so no position encodes time', () => {
    const ids = Array.from({ length: 4_000 }, () => newCustomerId().slice(4));
    for (let position = 0; position < 26; position += 1) {
      const seen = new Set(ids.map((id) => id[position]));
      // With 4,000 uniform draws over 32 symbols, missing one has probability ~1e-53.
      expect(seen.size).toBe(32);
    }
  });

  it('does not sort by creation time the way a ULID would', () => {
    const ids = Array.from({ length: 200 }, () => newCustomerId());
    expect([...ids].sort()).not.toEqual(ids);
  });
});

describe('isCustomerId', () => {
  it.each([
    ['a wrong prefix', 'con_0123456789ABCDEFGHJKMNPQRS'],
    ['a lower-case body', 'cus_0123456789abcdefghjkmnpqrs'],
    ['a letter outside the alphabet (I)', 'cus_I123456789ABCDEFGHJKMNPQRS'],
    ['a letter outside the alphabet (U)', 'cus_U123456789ABCDEFGHJKMNPQRS'],
    ['25 characters', 'cus_0123456789ABCDEFGHJKMNPQR'],
    ['27 characters', 'cus_0123456789ABCDEFGHJKMNPQRST'],
    ['a trailing newline', 'cus_0123456789ABCDEFGHJKMNPQRS\n'],
    ['an injection object as a string', '{"$ne": null}'],
  ])('refuses %s', (_label, value) => {
    expect(isCustomerId(value)).toBe(false);
  });

  it('refuses values that are not strings', () => {
    for (const value of [null, undefined, 42, { $ne: null }, ['cus_0123456789ABCDEFGHJKMNPQRS']]) {
      expect(isCustomerId(value)).toBe(false);
    }
  });

  it('accepts every character of the Crockford alphabet', () => {
    expect(isCustomerId(`cus_${CROCKFORD.slice(0, 26)}`)).toBe(true);
    expect(isCustomerId(`cus_${CROCKFORD.slice(6)}`)).toBe(true);
  });
});

describe('newPrefixedId and isPrefixedId', () => {
  const prefixes: readonly IdPrefix[] = ['con', 'aud', 'grt', 'era', 'ses'];

  it.each(prefixes)('makes and recognises %s_ ids', (prefix) => {
    const id = newPrefixedId(prefix);
    expect(id).toMatch(new RegExp(`^${prefix}_[0-9A-HJKMNP-TV-Z]{26}$`));
    expect(isPrefixedId(prefix, id)).toBe(true);
    expect(isCustomerId(id)).toBe(false);
  });

  it('does not take an id of one kind for another', () => {
    expect(isPrefixedId('con', newPrefixedId('aud'))).toBe(false);
    expect(isPrefixedId('grt', newCustomerId())).toBe(false);
    expect(isPrefixedId('ses', 'ses_short')).toBe(false);
    expect(isPrefixedId('ses', 42)).toBe(false);
  });

  it('refuses an unknown prefix instead of minting an id nothing recognises', () => {
    expect(() => newPrefixedId('usr' as IdPrefix)).toThrow(TypeError);
  });
});
