import { describe, expect, it } from 'vitest';
import { DateTimeScalar } from '../../src/resolvers/date-time-scalar.js';

describe('DateTime scalar: calendar dates', () => {
  // Date.UTC reads years 0-99 as 1900-1999, so the leap day of year 0000 (a leap year) was refused as not a real date
  // (a probe), while the scalar says it takes years 0 to 9999.
  it.each(['0000-02-29T00:00:00Z', '0004-02-29T12:00:00Z', '2000-02-29T00:00:00Z', '2024-02-29T23:59:59.999Z', '9999-12-31T23:59:59Z'])(
    'takes the real date %s',
    (value) => {
      expect(DateTimeScalar.parseValue(value)).toEqual(new Date(value));
    },
  );

  it.each(['0001-02-29T00:00:00Z', '0100-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '2026-02-30T00:00:00Z', '2026-04-31T00:00:00Z'])(
    'refuses %s, which no calendar has',
    (value) => {
      expect(() => DateTimeScalar.parseValue(value)).toThrow(/not a real date/);
    },
  );
});
