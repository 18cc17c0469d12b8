import { domainToASCII } from 'node:url';
import {
  getCountries,
  getCountryCallingCode,
  isSupportedCountry,
  parsePhoneNumberFromString,
  type CountryCode,
  type PhoneNumber,
} from 'libphonenumber-js/max';
import { BadUserInputError } from '../errors.js';

export type IdentifierKind = 'EMAIL' | 'PHONE' | 'CRM_ID';
export type { CountryCode };

export const IDENTIFIER_KINDS: readonly IdentifierKind[] = ['EMAIL', 'PHONE', 'CRM_ID'];

export interface NormaliseIdentifierOptions {
  /** Country used to read national-format phone numbers, e.g. `(020) 7946 0958` with `GB`. */
  defaultCountry?: CountryCode;
}

/**
 * Checked before any parsing so that a hostile 10 MB string costs a length
 * read, not a regex or a libphonenumber run.
 */
const MAX_RAW_LENGTH = 512;

const FIELD = 'identifier.value';

// RFC 5321 limits: 64 octets for the local part, 254 for a usable address
// (the 256-octet path minus the angle brackets).
export const MAX_EMAIL_LENGTH = 254;
const MAX_LOCAL_PART_LENGTH = 64;
const MAX_DOMAIN_LABEL_LENGTH = 63;

// RFC 5322 dot-atom: atext runs separated by single dots. Quoted local parts
// ("john doe"@x) and UTF-8 local parts (RFC 6531) are refused on purpose:
// almost no real mailbox uses them, and accepting them would need a Unicode
// normalisation and case-folding policy for the hash to stay stable.
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
// A top-level domain always has a letter; an all-digit last label means an IP
// literal such as 10.0.0.1, which is not a mailbox a customer owns.
const TOP_LEVEL_DOMAIN = /[a-z]/;

const CRM_ID = /^[A-Za-z0-9._:-]{1,128}$/;

// Whitespace (Unicode White_Space) and control/format characters (Cc, Cf,
// which include NUL, newlines, bidi overrides and zero-width joiners) have no
// place inside an identifier; a zero-width space would silently make a
// second hash for the same person.
const WHITESPACE_OR_CONTROL = /[\s\p{Cc}\p{Cf}]/u;

/**
 * Country calling codes of the countries libphonenumber knows. Non-geographic
 * codes (+800, +882, …) are left out on purpose: they only pass when
 * libphonenumber deems the number fully valid.
 */
export const GEOGRAPHIC_CALLING_CODES: ReadonlySet<string> = new Set(
  getCountries().map((country) => getCountryCallingCode(country)),
);

/**
 * Turns a raw identifier into the one canonical string that gets hashed, so
 * that `Jane.Doe@Example.com ` and `jane.doe@example.com` (or `07700 900123`
 * and `+447700900123`) resolve to the same customer.
 *
 * Every rejection is a `BadUserInputError` whose message never repeats the
 * value: it may be an email address or a phone number and error messages end
 * up in logs and client consoles.
 */
export function normaliseIdentifier(
  kind: IdentifierKind,
  value: string,
  opts: NormaliseIdentifierOptions = {},
): string {
  if (!isIdentifierKind(kind)) {
    // The kind is echoed nowhere either: it is caller-supplied text at runtime.
    throw new BadUserInputError('identifier.kind must be one of EMAIL, PHONE, CRM_ID', {
      field: 'identifier.kind',
    });
  }
  if (typeof value !== 'string') {
    throw rejectValue(kind, 'identifier.value must be a string');
  }
  if (value.length > MAX_RAW_LENGTH) {
    throw rejectValue(kind, `identifier.value is longer than ${MAX_RAW_LENGTH} characters`);
  }
  const trimmed = value.trim();
  if (trimmed.length === 0) {
    throw rejectValue(kind, 'identifier.value must not be empty');
  }
  switch (kind) {
    case 'EMAIL':
      return normaliseEmail(trimmed);
    case 'PHONE':
      return normalisePhone(trimmed, opts.defaultCountry);
    case 'CRM_ID':
      return normaliseCrmId(trimmed);
  }
}

/** Narrows caller-supplied text to an identifier kind. */
export function isIdentifierKind(kind: unknown): kind is IdentifierKind {
  return typeof kind === 'string' && (IDENTIFIER_KINDS as readonly string[]).includes(kind);
}

function normaliseEmail(trimmed: string): string {
  const invalid = (): BadUserInputError =>
    rejectValue('EMAIL', 'identifier.value is not a valid email address');

  if (WHITESPACE_OR_CONTROL.test(trimmed)) throw invalid();
  const at = trimmed.indexOf('@');
  if (at <= 0 || at !== trimmed.lastIndexOf('@')) throw invalid();

  // The syntax is checked before lower-casing: toLowerCase() maps a few
  // non-ASCII characters onto ASCII (the Kelvin sign U+212A becomes 'k'),
  // which would let a look-alike address pass as another one.
  const rawLocalPart = trimmed.slice(0, at);
  const rawDomain = trimmed.slice(at + 1);
  if (rawLocalPart.length > MAX_LOCAL_PART_LENGTH || !LOCAL_PART.test(rawLocalPart)) throw invalid();
  // Lower-casing the whole address (local part included) is the contract's
  // rule: real providers treat local parts case-insensitively and a
  // case-sensitive hash would split one person in two.
  const localPart = rawLocalPart.toLowerCase();

  const domain = normaliseEmailDomain(rawDomain);
  if (domain === null) throw invalid();

  const address = `${localPart}@${domain}`;
  if (address.length > MAX_EMAIL_LENGTH) throw invalid();
  return address;
}

/**
 * Returns the lower-case ASCII form of a mail domain, or null when it is not
 * a plausible public domain. Internationalised domains (`bücher.de`) are
 * turned into their punycode form (`xn--bcher-kva.de`) so that both spellings
 * of one mailbox give one hash.
 */
function normaliseEmailDomain(rawDomain: string): string | null {
  if (rawDomain.length === 0) return null;
  // domainToASCII applies UTS #46 mapping (case folding, full-width dots) and
  // returns '' for anything it cannot encode; ASCII-only input is simply
  // lower-cased so its behaviour stays obvious.
  const isAscii = /^[\x21-\x7e]+$/.test(rawDomain);
  // domainToASCII parses a URL's host: it ends the host at `/`, `?`, `#` or `\\` and decodes `%xx`, so
  // `jane@example.com?ü` was `jane@example.com`, while the same text without the `ü` was refused (a probe). In a
  // Unicode domain the only ASCII characters are a label's letters, digits and hyphens, and the dots.
  if (!isAscii && /[\x00-\x2c\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]/.test(rawDomain)) return null;
  // Nor characters that display as nothing, which domainToASCII drops: `exa\u034Fmple.com` (a combining grapheme
  // joiner, a mark, not a format character) matched Jane's `example.com` (a regression probe).
  if (/\p{Default_Ignorable_Code_Point}/u.test(rawDomain)) return null;
  const domain = isAscii ? rawDomain.toLowerCase() : domainToASCII(rawDomain);
  if (domain.length === 0) return null;

  const labels = domain.split('.');
  if (labels.length < 2) return null;
  for (const label of labels) {
    if (label.length === 0 || label.length > MAX_DOMAIN_LABEL_LENGTH) return null;
    if (!DOMAIN_LABEL.test(label)) return null;
  }
  const topLevel = labels[labels.length - 1] ?? '';
  if (!TOP_LEVEL_DOMAIN.test(topLevel)) return null;
  return domain;
}

function normalisePhone(trimmed: string, defaultCountry: CountryCode | undefined): string {
  const invalid = (): BadUserInputError =>
    rejectValue('PHONE', 'identifier.value is not a valid phone number');

  // Newlines, NULs and bidi controls are not phone formatting; refuse them
  // rather than let the parser skip over them.
  if (/[\p{Cc}\p{Cf}]/u.test(trimmed)) throw invalid();

  // An unsupported default country (say, a stale value from a CRM profile) is
  // ignored instead of thrown: the number must then carry its own +code.
  const country =
    defaultCountry !== undefined && isSupportedCountry(defaultCountry) ? defaultCountry : undefined;

  // extract: false makes the whole input the number. With the default (true)
  // libphonenumber would fish a number out of free text like
  // "call me on +44 7700 900123 please", and we would hash something the
  // caller did not present as an identifier.
  // libphonenumber reads fullwidth and Arabic-Indic digits but not the fullwidth plus sign (U+FF0B), which an
  // IME types along with fullwidth digits: folded, so that `＋４４…` is the same number as `+44…` (a probe).
  // An RFC 3966 parameter (`;isub=12`, `;ext=`): libphonenumber dropped an ISDN sub-address without a word, which,
  // as with an extension, would make every sub-address one customer (a probe).
  if (trimmed.includes(';')) throw invalid();
  // `(+44) 20 7946 0958`, the country code in brackets, is a common written form that libphonenumber does not read
  // (a probe): the brackets around a leading `+code` are dropped. Brackets elsewhere were read already.
  // Any space is a space: `+33 1 23 45 67 89` typeset with narrow no-break or thin spaces (U+202F, U+2009), as French
  // and other locales format numbers, was refused where U+00A0 and U+3000 were read (a probe).
  const ascii = asciiDigits(trimmed.replaceAll('\uFF0B', '+').replace(/\p{Zs}/gu, ' '));
  const bracketedCode = LEADING_BRACKETED_COUNTRY_CODE.exec(ascii)?.[1];
  const parsed = parsePhoneNumberFromString(bracketedCode === undefined ? ascii : ascii.replace(LEADING_BRACKETED_COUNTRY_CODE, '+$1 '), { defaultCountry: country, extract: false });
  if (parsed === undefined) throw invalid();
  // What the brackets hold must be the number's whole country code: `(+4)4 …` and `(+442)079…` were read as +44 (a
  // regression probe).
  if (bracketedCode !== undefined && parsed.countryCallingCode !== bracketedCode) throw invalid();

  // E.164 has no room for an extension; dropping it silently would merge
  // every extension of a switchboard into one customer, so refuse it.
  if (parsed.ext !== undefined) throw invalid();

  if (!isAcceptablePhoneNumber(parsed)) {
    // Mexico dropped the `1` that marked mobile numbers in 2019, but WhatsApp's ids for them still carry it
    // (`+52 1 55 1234 5678`): refused, a WhatsApp integration could not resolve such a customer registered as
    // `+52 55 1234 5678` (a probe). The old form, no longer a valid number, is read as the number it stood for.
    const mexicanMobile = parsed.countryCallingCode === '52' && /^1\d{10}$/.test(parsed.nationalNumber) ? parsePhoneNumberFromString(`+52${parsed.nationalNumber.slice(1)}`) : undefined;
    if (mexicanMobile === undefined || !isAcceptablePhoneNumber(mexicanMobile)) throw invalid();
    return mexicanMobile.number;
  }
  return parsed.number;
}

/**
 * Decimal digits of every script as ASCII digits: libphonenumber reads fullwidth and Arabic-Indic digits but refused
 * Devanagari, Bengali or Thai ones (a probe). Unicode keeps each script's digits as a run starting at its zero, so a
 * digit's value is its distance from the start of its run, modulo 10 (some runs hold several sets of ten).
 */
export function asciiDigits(text: string): string {
  // ASCII digits stay as they are, without the walk below (this runs on every free text checked).
  return text.replace(/[^\P{Nd}0-9]/gu, (digit) => {
    const codePoint = digit.codePointAt(0) as number;
    let start = codePoint;
    while (DECIMAL_DIGIT.test(String.fromCodePoint(start - 1))) start -= 1;
    return String((codePoint - start) % 10);
  });
}

const DECIMAL_DIGIT = /^\p{Nd}$/u;

/** `(+44)` at the start of a phone number, spaces allowed inside the brackets. */
const LEADING_BRACKETED_COUNTRY_CODE = /^\(\s*\+(\d{1,3})\s*\)/;

/**
 * The digits of a stored (E.164) phone number as text may hold them: all of them (`442079480230`) and its national
 * significant number (`2079480230`), which the national form holds too.
 */
export function phoneDigitsOf(e164: string): { international: string; national: string } {
  return { international: e164.replace(/\D/g, ''), national: parsePhoneNumberFromString(e164)?.nationalNumber ?? '' };
}

/**
 * A number is accepted when libphonenumber's full (`max`) metadata says it is
 * valid, or, failing that, when it has a possible length for a geographic
 * country calling code.
 *
 * Why the fallback: numbers reserved for drama and documentation, such as
 * Ofcom's 07700 900000–900999 (+447700900123) or NANP's 555-01xx, are
 * deliberately absent from the numbering-plan metadata, so `isValid()` is
 * false for them (checked against libphonenumber-js 1.13 `max`). The demo
 * data and the tests use exactly these numbers, because they can never ring
 * a real person. The fallback still rejects wrong lengths, unknown country
 * codes, letters and free text; what it gives up is the check that a range
 * has been allocated, which does not matter for a value that is only hashed.
 */
function isAcceptablePhoneNumber(parsed: PhoneNumber): boolean {
  if (parsed.isValid()) return true;
  return parsed.isPossible() && GEOGRAPHIC_CALLING_CODES.has(parsed.countryCallingCode);
}

function normaliseCrmId(trimmed: string): string {
  // Case is preserved: CRM ids are opaque keys, and `AB12` and `ab12` may be
  // two different records upstream.
  if (!CRM_ID.test(trimmed)) {
    throw rejectValue(
      'CRM_ID',
      'identifier.value is not a valid CRM id (1 to 128 of A-Z a-z 0-9 . _ : -)',
    );
  }
  return trimmed;
}

function rejectValue(kind: IdentifierKind, message: string): BadUserInputError {
  return new BadUserInputError(message, { field: FIELD, kind });
}
