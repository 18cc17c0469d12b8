import { describe, expect, it } from 'vitest';
import { GraphQLError } from 'graphql';
import { BadUserInputError } from '../../src/errors.js';
import { normaliseIdentifier, type IdentifierKind } from '../../src/identity/normalise-identifier.js';

/** Runs a normalisation expected to fail and returns the error for inspection. */
function captureRejection(kind: IdentifierKind, value: unknown, opts = {}): BadUserInputError {
  try {
    normaliseIdentifier(kind, value as string, opts);
  } catch (error) {
    expect(error).toBeInstanceOf(BadUserInputError);
    return error as BadUserInputError;
  }
  throw new Error('expected normaliseIdentifier to reject the value');
}

const HOSTILE_VALUES: readonly string[] = [
  '{"$ne": null}',
  '{"$gt": ""}',
  'x'.repeat(10_000),
  'a'.repeat(513),
  'jane@example.com\nBcc: victim@example.com',
  'jane\u0000@example.com',
  '<script>alert(1)</script>',
  'Robert\'); DROP TABLE customers;--',
  '\u202Ejane@example.com',
  'jane\u200B@example.com',
  '☃@☃',
  '𝒿ane@example.com',
  '../../etc/passwd',
];

describe('normaliseIdentifier: email', () => {
  it('trims and lower-cases the whole address', () => {
    expect(normaliseIdentifier('EMAIL', '  Jane.Doe@Example.COM \n')).toBe('jane.doe@example.com');
  });

  it('keeps plus-addressing and other atext characters as they are', () => {
    expect(normaliseIdentifier('EMAIL', "o'brien+support@mail.example.co.uk")).toBe(
      "o'brien+support@mail.example.co.uk",
    );
  });

  it('turns an internationalised domain into its punycode form so both spellings hash alike', () => {
    expect(normaliseIdentifier('EMAIL', 'jane@Bücher.de')).toBe('jane@xn--bcher-kva.de');
    expect(normaliseIdentifier('EMAIL', 'jane@xn--bcher-kva.de')).toBe('jane@xn--bcher-kva.de');
  });

  it('accepts a local part of exactly 64 characters and refuses 65', () => {
    expect(normaliseIdentifier('EMAIL', `${'a'.repeat(64)}@example.com`)).toHaveLength(76);
    captureRejection('EMAIL', `${'a'.repeat(65)}@example.com`);
  });

  it('refuses an address longer than 254 characters', () => {
    const label = 'd'.repeat(60);
    const domain = [label, label, label, label].join('.') + '.com'; // 247 characters
    expect(normaliseIdentifier('EMAIL', `abcdef@${domain}`)).toHaveLength(254);
    expect(() => normaliseIdentifier('EMAIL', `abcdefg@${domain}`)).toThrow(BadUserInputError);
  });

  it.each([
    ['no at sign', 'jane.example.com'],
    ['two at signs', 'jane@doe@example.com'],
    ['an empty local part', '@example.com'],
    ['an empty domain', 'jane@'],
    ['a domain without a dot', 'jane@localhost'],
    ['an empty domain label', 'jane@example..com'],
    ['a label starting with a hyphen', 'jane@-example.com'],
    ['a label ending with a hyphen', 'jane@example-.com'],
    ['an all-digit top-level domain (an IP address)', 'jane@10.0.0.1'],
    ['an IP literal', 'jane@[10.0.0.1]'],
    ['a space inside', 'jane doe@example.com'],
    ['a tab inside', 'jane\t@example.com'],
    ['a leading dot in the local part', '.jane@example.com'],
    ['consecutive dots in the local part', 'jane..doe@example.com'],
    ['a quoted local part', '"jane doe"@example.com'],
    ['a non-ASCII local part', 'jané@example.com'],
    ['a Kelvin sign that lower-cases to an ASCII k', 'jane\u212A@example.com'],
    ['a label over 63 characters', `jane@${'a'.repeat(64)}.com`],
    ['an underscore in the domain', 'jane@ex_ample.com'],
    // A Unicode domain went through a URL host parser that ends the host at these and decodes %xx: the tail was
    // dropped and the address matched someone (a probe), while the ASCII spelling was refused.
    ['a path after a Unicode domain', 'jane@example.com/ü'],
    ['a query after a Unicode domain', 'jane@example.com?ü'],
    ['a fragment after a Unicode domain', 'jane@example.com#ünsubscribe'],
    ['a backslash after a Unicode domain', 'jane@bücher.de\\x'],
    ['a percent escape in a Unicode domain', 'jane@bü%63her.de'],
    ['a port after a Unicode domain', 'jane@bücher.de:80'],
    // Characters that display as nothing, dropped by the host parser (a regression probe matched Jane with the first).
    ['a combining grapheme joiner in the domain', 'jane@exa\u034Fmple.com'],
    ['a variation selector in the domain', 'jane@exa\uFE0Fmple.com'],
  ])('refuses an address with %s', (_label, value) => {
    const error = captureRejection('EMAIL', value);
    expect(error.message).toBe('identifier.value is not a valid email address');
    expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'identifier.value', kind: 'EMAIL' });
  });
});

describe('normaliseIdentifier: phone', () => {
  it('returns E.164 for an international number written with spaces', () => {
    expect(normaliseIdentifier('PHONE', '+44 7700 900123')).toBe('+447700900123');
  });

  // A probe: typeset with a narrow no-break space (French), a thin space or another space, the number was refused.
  it('reads every kind of space between groups as a space', () => {
    for (const space of [' ', '\u00A0', '\u202F', '\u2009', '\u2002', '\u2007', '\u200A', '\u205F', '\u3000', '\u1680']) {
      expect(normaliseIdentifier('PHONE', `+33${space}1${space}23${space}45${space}67${space}89`), JSON.stringify(space)).toBe('+33123456789');
    }
  });

  // WhatsApp's ids for Mexican mobiles still carry the `1` Mexico dropped in 2019 (a probe: refused, so a WhatsApp
  // integration could not resolve the customer).
  it('reads a Mexican mobile number with its old 1 as the number it stood for', () => {
    expect(normaliseIdentifier('PHONE', '+5215512345678')).toBe('+525512345678');
    expect(normaliseIdentifier('PHONE', '+52 1 33 1234 5678')).toBe(normaliseIdentifier('PHONE', '+52 33 1234 5678'));
    expect(() => normaliseIdentifier('PHONE', '+52155123456789')).toThrow('not a valid phone number');
  });

  it('reads fullwidth digits and a fullwidth plus sign as an IME types them: the same number', () => {
    expect(normaliseIdentifier('PHONE', '\uFF0B447700900123')).toBe('+447700900123');
    expect(normaliseIdentifier('PHONE', '\uFF0B\uFF14\uFF14 \uFF17\uFF17\uFF10\uFF10 \uFF19\uFF10\uFF10\uFF11\uFF12\uFF13')).toBe('+447700900123');
    expect(normaliseIdentifier('PHONE', '+\u0664\u0664\u0667\u0667\u0660\u0660\u0669\u0660\u0660\u0661\u0662\u0663')).toBe('+447700900123');
  });

  // libphonenumber read these as no number (a probe): Devanagari, Bengali, Thai, and mathematical digits.
  it.each([
    ['Devanagari', '+\u096a\u096a\u096d\u096d\u0966\u0966\u096f\u0966\u0966\u0967\u0968\u0969'],
    ['Bengali', '+\u09ea\u09ea \u09ed\u09ed\u09e6\u09e6 \u09ef\u09e6\u09e6\u09e7\u09e8\u09e9'],
    ['Thai', '+\u0e54\u0e54\u0e57\u0e57\u0e50\u0e50\u0e59\u0e50\u0e50\u0e51\u0e52\u0e53'],
    ['mathematical sans-serif', '+\u{1d7e6}\u{1d7e6}\u{1d7e9}\u{1d7e9}\u{1d7e2}\u{1d7e2}\u{1d7eb}\u{1d7e2}\u{1d7e2}\u{1d7e3}\u{1d7e4}\u{1d7e5}'],
  ])('reads %s digits as the same number', (_script, value) => {
    expect(normaliseIdentifier('PHONE', value)).toBe('+447700900123');
  });

  it('reads a country code written in brackets, (+44), as the same number (a probe was refused)', () => {
    expect(normaliseIdentifier('PHONE', '(+44) 20 7946 0958')).toBe('+442079460958');
    expect(normaliseIdentifier('PHONE', '( +44 )7700 900123')).toBe('+447700900123');
    expect(normaliseIdentifier('PHONE', '(\uFF0B\uFF14\uFF14) 7700 900123')).toBe('+447700900123');
    // Only a leading +code: brackets without a plus, or around more than a code, are read as before.
    expect(() => normaliseIdentifier('PHONE', '(44) 7700 900123')).toThrow(/not a valid phone number/);
    expect(() => normaliseIdentifier('PHONE', '(+44 7700) 900123x')).toThrow(/not a valid phone number/);
    // The brackets must hold the whole country code, no more and no less (a regression probe).
    for (const value of ['(+4)4 2079460123', '(+442)079460123', '(+12) 02 555 0123', '(+120) 2 555 0123']) {
      expect(() => normaliseIdentifier('PHONE', value), value).toThrow(/not a valid phone number/);
    }
    expect(normaliseIdentifier('PHONE', '(+1) 202 555 0123')).toBe('+12025550123');
  });

  it('accepts the Ofcom drama-range mobile number the demo uses, although libphonenumber does not call it valid', () => {
    expect(normaliseIdentifier('PHONE', '+447700900123')).toBe('+447700900123');
    expect(normaliseIdentifier('PHONE', '07700 900123', { defaultCountry: 'GB' })).toBe('+447700900123');
  });

  it('reads a national number with the default country', () => {
    expect(normaliseIdentifier('PHONE', '(020) 7946 0958', { defaultCountry: 'GB' })).toBe('+442079460958');
    expect(normaliseIdentifier('PHONE', '(415) 555-2671', { defaultCountry: 'US' })).toBe('+14155552671');
    expect(normaliseIdentifier('PHONE', '06 12 34 56 78', { defaultCountry: 'FR' })).toBe('+33612345678');
  });

  it('lets an explicit country code win over the default country', () => {
    expect(normaliseIdentifier('PHONE', '+33 6 12 34 56 78', { defaultCountry: 'GB' })).toBe('+33612345678');
  });

  it('reads the 00 international prefix of the default country', () => {
    expect(normaliseIdentifier('PHONE', '0044 7700 900123', { defaultCountry: 'GB' })).toBe('+447700900123');
  });

  it('refuses a national number when no default country is given', () => {
    captureRejection('PHONE', '020 7946 0958');
  });

  it.each([
    ['too short', '+44 7700 9001'],
    ['too long', '+44 7700 900123 999'],
    ['an unknown country code', '+999 123 456 789'],
    ['no digits', 'not a phone'],
    ['letters among the digits', '+44 7700 9OO123'],
    ['free text around the number', 'call me on +44 7700 900123 please'],
    ['a newline inside', '+44\n7700 900123'],
    ['an extension', '+44 20 7946 0958 ext. 12'],
    ['an ISDN sub-address', '+447700900123;isub=12'],
    ['a tel: URI', 'tel:+44-20-7946-0958'],
    ['a bare plus', '+'],
  ])('refuses a number that is %s', (_label, value) => {
    const error = captureRejection('PHONE', value, { defaultCountry: 'GB' });
    expect(error.message).toBe('identifier.value is not a valid phone number');
    expect(error.extensions).toMatchObject({ field: 'identifier.value', kind: 'PHONE' });
  });
});

describe('normaliseIdentifier: CRM id', () => {
  it('trims and preserves case', () => {
    expect(normaliseIdentifier('CRM_ID', '  SF:003Ab00000XyZ.1_a-b  ')).toBe('SF:003Ab00000XyZ.1_a-b');
  });

  it('accepts 128 characters and refuses 129', () => {
    expect(normaliseIdentifier('CRM_ID', 'A'.repeat(128))).toHaveLength(128);
    captureRejection('CRM_ID', 'A'.repeat(129));
  });

  it.each([['a space', 'crm 42'], ['a slash', 'crm/42'], ['a dollar sign', '$ne'], ['unicode', 'crmé42']])(
    'refuses an id containing %s',
    (_label, value) => {
      const error = captureRejection('CRM_ID', value);
      expect(error.extensions).toMatchObject({ field: 'identifier.value', kind: 'CRM_ID' });
    },
  );
});

describe('normaliseIdentifier: guards common to every kind', () => {
  it.each(['EMAIL', 'PHONE', 'CRM_ID'] as const)('refuses an empty or blank %s', (kind) => {
    expect(captureRejection(kind, '').message).toBe('identifier.value must not be empty');
    expect(captureRejection(kind, ' \n\t ').message).toBe('identifier.value must not be empty');
  });

  it.each([null, undefined, 42, { $ne: null }, ['jane@example.com']])('refuses a non-string value (%j)', (value) => {
    expect(captureRejection('EMAIL', value).message).toBe('identifier.value must be a string');
  });

  it('refuses a value over 512 characters before parsing it', () => {
    const error = captureRejection('EMAIL', `${'a'.repeat(600)}@example.com`);
    expect(error.message).toBe('identifier.value is longer than 512 characters');
  });

  it('refuses an unknown kind without echoing it', () => {
    try {
      normaliseIdentifier('SSN' as IdentifierKind, '123-45-6789');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(BadUserInputError);
      expect((error as GraphQLError).message).not.toContain('SSN');
      expect((error as GraphQLError).extensions).toMatchObject({ field: 'identifier.kind' });
    }
  });

  it.each(['EMAIL', 'PHONE', 'CRM_ID'] as const)('refuses hostile %s input with a message that never repeats the value', (kind) => {
    for (const value of HOSTILE_VALUES) {
      const error = captureRejection(kind, value, { defaultCountry: 'GB' });
      const serialised = JSON.stringify({ message: error.message, extensions: error.extensions });
      expect(error.message).not.toContain(value);
      // Also check a recognisable fragment, in case a message quoted only part of it.
      expect(serialised).not.toContain(value.trim().slice(0, 8));
      expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'identifier.value', kind });
    }
  });

  it('never repeats a plausible but rejected email or phone in the message', () => {
    const cases: Array<[IdentifierKind, string]> = [
      ['EMAIL', 'jane.doe@localhost'],
      ['PHONE', '+44 7700 9001'],
      ['CRM_ID', 'secret customer 42'],
    ];
    for (const [kind, value] of cases) {
      const error = captureRejection(kind, value);
      expect(error.message).not.toContain('jane');
      expect(error.message).not.toContain('7700');
      expect(error.message).not.toContain('secret');
    }
  });
});
