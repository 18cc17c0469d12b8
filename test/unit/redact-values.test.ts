import { describe, expect, it } from 'vitest';
import { redactValues } from '../../src/http/graphql-errors.js';

describe('redactValues', () => {
  it('keeps names and drops the values graphql-js quotes', () => {
    expect(redactValues('Variable "$input" got invalid value "jane@example.com" at "input.value"; String cannot represent it.')).not.toContain('jane');
    expect(redactValues('Cannot query field "emailAddress" on type "Customer".')).toBe('Cannot query field "emailAddress" on type "Customer".');
    expect(redactValues('Value "CRM000001" does not exist in "IdentifierKind" enum.')).toBe('Value "<redacted>" does not exist in "IdentifierKind" enum.');
  });

  // The whole message was withheld for these: `"<redacted>" at "input.channel"` read as an address spelled with `at`,
  // the scalar's "years 0000-9999" as a phone number (a probe). The caller needs the path and the type to fix a request.
  it('keeps the path and type of a refused value inside a variable', () => {
    expect(redactValues('Variable "$input" got invalid value "FAX" at "input.channel"; Value "FAX" does not exist in "Channel" enum.')).toBe(
      'Variable "$input" got invalid value "<redacted>" at "input.channel"; Value "<redacted>" does not exist in "Channel" enum.',
    );
    expect(redactValues('Variable "$input" got invalid value "SSN" at "input.fields[0]"; Value "SSN" does not exist in "PiiField" enum.')).toContain('at "input.fields[0]"');
    expect(redactValues('Variable "$f" got invalid value "0000-01-01T00:00:00+01:00"; DateTime must fall in the years 0 to 9999 in UTC')).toBe(
      'Variable "$f" got invalid value "<redacted>"; DateTime must fall in the years 0 to 9999 in UTC',
    );
  });

  it('keeps a schema coordinate (Type.field)', () => {
    expect(redactValues('Unknown argument "x" on field "Query.customer".')).toBe('Unknown argument "x" on field "Query.customer".');
    // Elsewhere a capitalised dotted name is the caller's own (a CRM id as an input field name; a regression probe).
    expect(redactValues('Field "ACME.X12" is not defined by type "RegisterCustomerInput".')).toBe('Field "<redacted>" is not defined by type "RegisterCustomerInput".');
    // graphql-js names a missing required input field by its coordinate (a regression probe found it redacted).
    expect(redactValues('Field "IdentifierInput.value" of required type "String!" was not provided.')).toBe('Field "IdentifierInput.value" of required type "String!" was not provided.');
  });

  it('keeps a non-string date\'s message, the number it quotes dropped', () => {
    expect(redactValues('Variable "$f" got invalid value 20261130; DateTime must be a string')).toBe('Variable "$f" got invalid value <redacted>; DateTime must be a string');
  });

  it('still withholds a message whose text outside the quotes spells an address or a number', () => {
    for (const message of [
      // graphql-js prints an object's keys raw: the caller's `x" jane.doe at "example.org` key (a regression probe).
      'Field "x" jane.doe at "example.org" is not defined by type "ResolveCustomerInput".',
      'Variable "$input" got invalid value { a;: 1, zelda.quill at "example.org": 1 }; Field "a;" is not defined by type "X".',
      'Variable "$input" got invalid value "x" at "input.channel"; jane at example.org',
      'Variable "$input" got invalid value "x" at "input.channel"; call 07700 900123',
    ]) {
      expect(redactValues(message), message).toMatch(/withheld/);
    }
  });

  it('reads escaped quotes as part of a value, and an escaped backslash before a quote as the end of one', () => {
    expect(redactValues('Expected name, found "jane \\"at\\" example.org".')).not.toContain('example');
    expect(redactValues('Unknown argument "a\\\\" on field "x".')).toBe('Unknown argument "<redacted>" on field "x".');
  });

  // A value full of escaped quotes was scanned again from each of them. Not a performance target: this takes about
  // a millisecond now, and took 144 ms for 20,000 characters (four times that for twice the length) before.
  it('stays linear in a message full of escaped quotes', () => {
    const started = performance.now();
    redactValues(`got invalid value ${'"\\'.repeat(50_000)}`);
    expect(performance.now() - started).toBeLessThan(300);
  });
});

describe('redactValues on values that break the quoting', () => {
  // graphql-js prints an enum value raw, quotes and all: the caller's address ended up outside any quote (a probe).
  it('never repeats an address or phone number, however the value is quoted', () => {
    for (const message of [
      'Variable "$c" got invalid value "x" jane@example.org +447700900123"; Value "x" jane@example.org +447700900123" does not exist in "Channel" enum.',
      'Int cannot represent non-integer value: "x" jane@example.org +447700900123 "',
      'Expected value of type "Channel", found "x" call 07700 900123 now".',
    ]) {
      const redacted = redactValues(message);
      expect(redacted).not.toMatch(/jane|example|447700|07700/);
    }
  });

  it('stays linear in runs of backslashes and in open quotes', () => {
    const started = performance.now();
    for (const message of [`Value "x"${'\\'.repeat(100_000)}" does not exist`, `got invalid value ${'"'.repeat(100_000)}`, `${'value "'.repeat(20_000)}x`, `${'found x '.repeat(20_000)}`]) {
      redactValues(message);
    }
    expect(performance.now() - started).toBeLessThan(300);
  });
});
