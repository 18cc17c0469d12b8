import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
/**
 * The masked forms of the field policy (CONTRACT.md, "Field policy"). They are
 * computed once, at write time, from the clear value, so that an everyday
 * masked read never decrypts anything.
 *
 * A "character" is a user-perceived one (a grapheme cluster, Intl.Segmenter),
 * not a UTF-16 unit or a code point: slicing '𝒜lice' by units would store half
 * a surrogate pair, and by code points 'क्षमा' would keep `क` without its
 * conjunct, a flag one regional indicator, a family emoji one person.
 */

/**
 * `jane.doe@example.com` -> `j***@example.com`: the first character of the
 * local part, `***`, `@` and the domain. The number of stars is fixed so the
 * mask does not reveal the length of the local part.
 */
export function maskEmail(email: string): string {
  // The last '@' separates the domain even in the rare quoted local part
  // that contains an '@' of its own.
  const at = email.lastIndexOf('@');
  const localPart = at > 0 ? email.slice(0, at) : '';
  const domain = at > 0 ? email.slice(at + 1) : '';
  const first = firstCharacter(localPart);
  if (first === null || domain.length === 0) {
    // Not an address: show nothing of it rather than guess which part is safe.
    return '***';
  }
  return `${first}***@${domain}`;
}

/**
 * `+447700900123` -> `+********0123`: `+`, one `*` per hidden digit and the
 * last four digits, of which at least three digits of the national number
 * stay hidden: a national number of 4, 5 or 6 digits shows 1, 2 or 3 (Saint
 * Helena's `+2904512` was masked `+***4512`, the whole national number; a
 * probe). A number that does not parse is taken to have a three-digit country
 * code, the longest there is.
 */
export function maskPhone(e164: string): string {
  // Input is E.164; keeping only the digits makes a stray space or dash
  // harmless instead of shifting which digits are shown.
  const digits = e164.replace(/[^0-9]/g, '');
  const national = parsePhoneNumberFromString(`+${digits}`)?.nationalNumber.length ?? digits.length - 3;
  const shownCount = Math.max(0, Math.min(4, national - MIN_HIDDEN_NATIONAL_DIGITS));
  const shown = shownCount > 0 ? digits.slice(-shownCount) : '';
  return `+${'*'.repeat(digits.length - shown.length)}${shown}`;
}

/** Digits of the national number a masked phone never shows. */
const MIN_HIDDEN_NATIONAL_DIGITS = 3;

/**
 * `Jane Mary Doe` -> `Jane D.`: the first word, a space, the initial of the
 * last word and a dot; a single word keeps only its initial (`Cher` -> `C.`).
 * Returns null when there is no name at all, so that "no display name" stays
 * distinguishable from a masked one.
 */
export function maskDisplayName(displayName: string): string | null {
  // NFC first, so that 'Ü' typed as U+0055 U+0308 yields the initial 'Ü'
  // rather than a bare 'U'. A word that shows nothing is no word, and an
  // initial is the first character that shows: `Jane \u200fDoe` (an RLM) was
  // masked `Jane \u200f.`, which agents read as `Jane .` (a probe).
  const name = displayName.normalize('NFC').trim();
  // A bracketed note is no part of the name: `Jane Doe (VIP)` was `Jane (.`, `(VIP) Jane Doe` `(VIP) D.` (probes).
  const unnoted = wordsOf(name.replace(BRACKETED_NOTE, ' '));
  const words = dropTrailingSuffixes(readSurnameFirst(dropTrailingSuffixes(unnoted.length > 0 ? unnoted : wordsOf(name))));
  const firstWord = words[0]?.replace(EDGE_NOTHING, '');
  if (firstWord === undefined || firstWord === '') return null;
  if (words.length === 1) {
    return `${initialOf(firstWord)}.`;
  }
  const lastWord = words[words.length - 1] ?? '';
  return `${firstWord} ${initialOf(lastWord)}.`;
}

const wordsOf = (text: string): string[] => text.split(/\s+/u).filter(showsSomething);

const BRACKETED_NOTE = /[([{][^()[\]{}]*[)\]}]/gu;
/** A comma as Latin, Arabic and fullwidth text write it. */
const TRAILING_COMMAS = /[,\u060C\uFF0C]+$/u;

/**
 * `Doe, Jane` is `Jane Doe` written surname first: masked `Doe, J.` it showed the surname whole (a probe); so did
 * `Doe Jr., Jane` and `Doe , Jane` (a regression probe). The words before the first comma go after the others.
 */
function readSurnameFirst(words: readonly string[]): readonly string[] {
  const commaAt = words.findIndex((word) => TRAILING_COMMAS.test(word));
  if (commaAt < 0 || commaAt === words.length - 1) return words;
  const family = words.slice(0, commaAt + 1).map((word) => word.replace(TRAILING_COMMAS, '')).filter(showsSomething);
  return [...words.slice(commaAt + 1), ...family];
}

/**
 * Generational suffixes and degrees written after a surname, as written (case kept: `Ii` and `Md` are names, `II`
 * and `MD` are not), a trailing comma aside.
 */
const NAME_SUFFIXES = new Set(['Jr', 'Jr.', 'JR', 'JR.', 'Sr', 'Sr.', 'SR', 'SR.', 'II', 'III', 'IV', 'PhD', 'Ph.D.', 'MD', 'M.D.', 'Esq', 'Esq.']);

/** Drops trailing suffixes (`Jane Doe Jr.` was `Jane J.`, a probe), keeping at least the first word. */
function dropTrailingSuffixes(words: readonly string[]): readonly string[] {
  let end = words.length;
  while (end > 1 && NAME_SUFFIXES.has(words[end - 1]!.replace(TRAILING_COMMAS, ''))) end -= 1;
  return words.slice(0, end);
}

/**
 * Characters that show nothing of their own: format characters (RLM, zero-width
 * ones), the other default-ignorable code points (Hangul fillers), and
 * combining marks, which sit on the character before them; control characters;
 * and the symbols
 * drawn blank, the Braille pattern blank (U+2800) and the musical null
 * notehead (U+1D159), which a probe used as a whole name and as an initial.
 */
const DRAWN_BLANK_CLASS = String.raw`\p{Cf}\p{Default_Ignorable_Code_Point}\p{Cc}\u2800\u{1D159}`;
const SHOWS_NOTHING_CLASS = String.raw`${DRAWN_BLANK_CLASS}\p{M}`;
const LEADING_NOTHING = new RegExp(`^[${SHOWS_NOTHING_CLASS}]+`, 'u');
/**
 * Symbols drawn blank at either end of the first word, which the mask keeps whole: a Braille blank glued to it
 * (`Jane\u2800 Doe`) was kept in `Jane\u2800 D.` (a probe); Hangul fillers too. Format characters stay (a right-to-left
 * mark before a Hebrew name sets how it is shown), and so do combining marks (part of a letter).
 */
const EDGE_NOTHING = /^[\u2800\u{1D159}\u3164\u115F\u1160\uFFA0]+|[\u2800\u{1D159}\u3164\u115F\u1160\uFFA0]+$/gu;

/** Whether `text` has a character that shows: a name of Hangul fillers (`\u3164`) looks blank. */
export function showsSomething(text: string): boolean {
  return SHOWS_SOMETHING.test(text);
}

const SHOWS_SOMETHING = new RegExp(`[^${SHOWS_NOTHING_CLASS}\\s]`, 'u');

function initialOf(word: string): string {
  return firstCharacter(word.replace(LEADING_NOTHING, '')) ?? '';
}

const GRAPHEMES = new Intl.Segmenter('und', { granularity: 'grapheme' });

function firstCharacter(text: string): string | null {
  const first = GRAPHEMES.segment(text)[Symbol.iterator]().next();
  return first.done ? null : first.value.segment;
}
