import { GraphQLScalarType, Kind } from 'graphql';
import { BadUserInputError } from '../errors.js';

// An offset is required: a bare local time is ambiguous across the channels' time zones.
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function parseDateTime(value: unknown): Date {
  if (typeof value !== 'string' || value.length > 40 || !ISO_DATE_TIME.test(value)) {
    throw new BadUserInputError('DateTime must be an ISO-8601 date-time with a time zone, e.g. 2026-11-23T14:25:00Z');
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime()) || !isCalendarDate(value)) throw new BadUserInputError('DateTime is not a real date');
  // An offset can carry the last day of 9999 into year 10000, which comes back as `+010000-...`: a form this scalar
  // refuses. Every DateTime answered must be one the API takes, so the instant must stay within years 0000-9999 UTC.
  if (date.getTime() > MAX_INSTANT || date.getTime() < MIN_INSTANT) throw new BadUserInputError('DateTime must fall in the years 0 to 9999 in UTC');
  return date;
}

const MAX_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');
const MIN_INSTANT = Date.parse('0000-01-01T00:00:00.000Z');

/** V8 rolls 2026-02-30 over to March 2 and 24:00 to the next day instead of refusing them. */
function isCalendarDate(value: string): boolean {
  const [year, month, day, hour] = [value.slice(0, 4), value.slice(5, 7), value.slice(8, 10), value.slice(11, 13)].map(Number) as [number, number, number, number];
  // Not Date.UTC(year, ...): it reads years 0-99 as 1900-1999, and 1900 is no leap year, so 0000-02-29 was refused (a
  // probe).
  const lastDay = new Date(0);
  lastDay.setUTCFullYear(year, month, 0);
  const daysInMonth = lastDay.getUTCDate();
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour <= 23;
}

export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'An ISO-8601 date-time with a time zone, for example 2026-11-23T14:25:00Z.',
  serialize(value) {
    if (value instanceof Date) return value.toISOString();
    if (typeof value === 'string') return new Date(value).toISOString();
    throw new TypeError('DateTime cannot represent this value');
  },
  parseValue: parseDateTime,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new BadUserInputError('DateTime must be a string');
    return parseDateTime(ast.value);
  },
});
