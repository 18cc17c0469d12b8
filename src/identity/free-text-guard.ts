import { BadUserInputError } from '../errors.js';

// An email address anywhere in the text.
const EMAIL_LIKE = /[^\s@]+@[^\s@]+\.[^\s@]+/;
// One written with spaces between its characters (`z e l d a @ e x a m p l e . o r g`), looked for in the text
// without its spaces: a domain of letters, digits and dashes that ends in a top-level domain of letters, so that
// `Meeting @ 10.30` does not count.
const SPACED_EMAIL_LIKE = /[^\s@]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,}(?![\p{L}\p{N}])/u;
// One with the at sign spelled as a word, `zelda at example dot org` or `zelda AT example.org`: `at`, a domain, and
// a dot (spelled or not) before a top-level domain of letters; `Called at 10.30` does not count.
const WORD_AT_EMAIL_LIKE = /[^\s@]+\s+at\s+[\p{L}\p{N}-]+(?:\s*(?:\.|\bdot\b)\s*[\p{L}\p{N}-]+)*?\s*(?:\.|\bdot\b)\s*\p{L}{2,}(?![\p{L}\p{N}])/iu;
// Seven or more digits with nothing but separators between them: spaces, brackets, dots and dashes as people type
// phone numbers, and any other punctuation or symbol too (`07700_900_123`, `44/7700/900/123`, `44:7700:900:123`
// read back as a number just as well). A letter ends the run. The class cannot match a digit, so this stays linear.
const PHONE_LIKE = /\+?\d(?:[^\p{L}\p{N}]*\d){6,}/u;

/**
 * The text as the patterns should see it: look-alikes written in other forms
 * of Unicode would otherwise pass (fullwidth `＠` and digits, Arabic-Indic or
 * Devanagari digits, zero-width characters between digits, typographic
 * dashes), while libphonenumber and mail clients read them as the real thing.
 * NFKC folds compatibility forms (fullwidth, small, circled) to ASCII; every
 * other decimal digit becomes `0` (only the digit count matters here); format
 * characters (zero-width space and joiners, directional marks, soft hyphen)
 * are dropped; dashes become `-`.
 */
function foldForDetection(text: string): string {
  return (
    text
      .normalize('NFKC')
      .replace(/\p{Cf}/gu, '')
      // Spelled-out and percent-encoded at signs and dots: `jane%40example.org`, `jane (at) example [dot] org`
      // (before the digits are folded, which would turn `%40` into `%00`).
      .replace(/%40/gi, '@')
      // HTML character references, as text copied out of an email or a CRM page carries them: `&#64;`, `&#x40;`, `&commat;`.
      .replace(/&(?:#0*64|#x0*40|commat);?/gi, '@')
      .replace(/&(?:#0*46|#x0*2e|period);?/gi, '.')
      .replace(/\s*[([{]\s*at\s*[)\]}]\s*/gi, '@')
      .replace(/\s*[([{]\s*dot\s*[)\]}]\s*/gi, '.')
      .replace(/\p{Nd}/gu, '0')
      .replace(/\p{Pd}/gu, '-')
  );
}

export function containsIdentifier(text: string): boolean {
  const folded = foldForDetection(text);
  if (EMAIL_LIKE.test(folded) || PHONE_LIKE.test(folded) || WORD_AT_EMAIL_LIKE.test(folded)) return true;
  return folded.includes('@') && SPACED_EMAIL_LIKE.test(folded.replace(/\s+/g, ''));
}

// Bidirectional embeddings, overrides and isolates: they reorder how stored text displays (a reason or subject could
// read differently in a compliance tool than it was written). The marks LRM/RLM/ALM stay allowed.
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// 16 or more hex digits: longer than any phone number (E.164 has at most 15 digits), e.g. a W3C trace id.
const LONG_HEX = /^[0-9a-f]{16,}$/i;

/**
 * A correlation id that the audit trail or the logs keep (request ids,
 * interaction ids): a UUID or a long hex token passes as it is (their digit
 * runs are not phone numbers); anything else must not look like an email
 * address or a phone number.
 */
export function isSafeReference(value: string): boolean {
  return UUID.test(value) || LONG_HEX.test(value) || !containsIdentifier(value);
}

const GRAPHQL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A caller-chosen GraphQL name (an operation name) that may be logged or
 * become a metric label: well-formed, at most `maxLength` characters, and
 * spelling no phone number or address (`Lookup_447700900123` does not pass).
 */
export function isRecordableName(name: unknown, maxLength: number): name is string {
  return typeof name === 'string' && name.length <= maxLength && GRAPHQL_NAME.test(name) && !containsIdentifier(name);
}

/**
 * Free text that we keep (ticket subjects, justifications) must not smuggle a
 * raw identifier into a store. We reject rather than redact: the sender can
 * fix the text, and a silent rewrite would hide a leaking integration.
 * With `isReference`, a UUID or long hex id passes as it is (isSafeReference).
 */
export function assertFreeText(text: string, field: string, maxLength: number, { isReference = false }: { isReference?: boolean } = {}): string {
  const trimmed = text.replace(/\s+/g, ' ').trim();
  if (trimmed.length === 0 || trimmed.length > maxLength) {
    throw new BadUserInputError(`${field} must be 1-${maxLength} characters`, { field });
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(trimmed) || BIDI_CONTROLS.test(trimmed)) throw new BadUserInputError(`${field} must not contain control characters`, { field });
  // A reference (an erasure's requestId) may be a UUID or a long hex id, whose digit runs are not phone numbers.
  if (isReference ? !isSafeReference(trimmed) : containsIdentifier(trimmed)) {
    throw new BadUserInputError(`${field} must not contain an email address or phone number`, { field });
  }
  return trimmed;
}
