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
  const words = nameWords(name);
  const shown = words.length > 0 ? words : wordsOf(name);
  // A combining mark that starts the word sits on nothing (`\u0301Jane` showed a dangling accent; a probe), after a
  // format character too (`\u200b\u0301Jane`), and a blank may hide behind one (`\u0301\u2800Jane`; a regression probe).
  const firstWord = shown[0]?.replace(EDGE_NOTHING, '').replace(LEADING_STRAY, '$1');
  if (firstWord === undefined || firstWord === '') return null;
  if (shown.length === 1) {
    return `${initialOf(firstWord)}.`;
  }
  const lastWord = shown[shown.length - 1] ?? '';
  return `${firstWord} ${initialOf(lastWord)}.`;
}

const wordsOf = (text: string): string[] => text.split(/\s+/u).filter(showsSomething);

/** Commas and the like, as Latin, Arabic, CJK and other scripts write them, and the semicolon. */
const SEPARATORS = '[,;\u060C\u061B\u055D\u1363\u3001\u201A\uFE10\uFE11\uFE50\uFE51\uFE54\uFF0C\uFF1B\u2E41]';
/** A bracketed note, innermost first: removed until none is left (`(VIP (gold))`). */
const BRACKETED_NOTE = /\([^()]*\)|\[[^[\]]*\]|\{[^{}]*\}|\uFF08[^\uFF08\uFF09]*\uFF09/gu;
/** What is left of a bracket that was never closed or opened (`Jane Doe (VIP`). */
const STRAY_BRACKETED = /^[([{\uFF08]|[)\]}\uFF09]$/u;

/**
 * The words the mask is made of, in given-name-first order (probes, 2026-12-01):
 * - bracketed notes are no part of the name (`Jane Doe (VIP)` was `Jane (.`), nor are words left with a stray bracket;
 * - the name is read in comma-separated groups, and groups of suffixes only (`Jr.`) are dropped;
 * - a first group of one word followed by others is a surname written first (`Doe, Jane` was `Doe, J.`, showing the
 *   surname whole): the next group's words come first. Any other first group is the name, and what follows the comma
 *   is a credential or a note (`Jane Doe, RN`);
 * - suffixes after the surname (`Jane Doe Jr.`) are dropped.
 */
function nameWords(name: string): string[] {
  let text = name;
  for (let before = ''; before !== text; ) [before, text] = [text, text.replace(BRACKETED_NOTE, ' ')];
  const groups = text
    .replace(SEPARATOR_RUN, ' , ')
    .split(' , ')
    .map((group) => dropSuffixes(wordsOf(group).filter((word) => !STRAY_BRACKETED.test(word))))
    .filter((group) => group.length > 0 && !group.every(isSuffix));
  const [first, second] = groups;
  if (first === undefined) return [];
  if (first.length === 1 && second !== undefined) return [...second, ...first];
  return first;
}

/**
 * Generational suffixes and degrees written after a surname. Roman numerals and `MD` match as written (`Ii` and `Md`
 * are names); the others in any case.
 */
const SUFFIXES_AS_WRITTEN = new Set(['II', 'III', 'IV', 'MD', 'M.D.', 'RN', 'MBA', 'MBE', 'OBE', 'CBE', 'KBE', 'DBE']);
const SUFFIXES_ANY_CASE = new Set(['jr', 'jr.', 'jnr', 'jnr.', 'sr', 'sr.', 'snr', 'snr.', 'phd', 'ph.d', 'ph.d.', 'esq', 'esq.']);
/** A number after the surname (`Jane Doe 2`, `John Doe 3rd`; a probe masked them `Jane 2.`). */
const NUMBERED_SUFFIX = /^\d{1,3}(?:st|nd|rd|th)?\.?$/i;
/** A number written with a sign or in brackets (`Jane Doe #2`, `-2`; a regression probe masked them `Jane 2.`): no letter, a digit. */
const NUMBER_WORD = /^[^\p{L}]*\p{N}[^\p{L}]*$/u;
const isSuffix = (word: string): boolean =>
  SUFFIXES_AS_WRITTEN.has(word) || SUFFIXES_ANY_CASE.has(word.toLowerCase()) || NUMBERED_SUFFIX.test(word) || NUMBER_WORD.test(word);

/** Drops trailing suffixes (`Jane Doe Jr.` was `Jane J.`, a probe), keeping at least the first word. */
function dropSuffixes(words: readonly string[]): string[] {
  let end = words.length;
  while (end > 1 && isSuffix(words[end - 1]!)) end -= 1;
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

/** A separator, with whatever shows nothing around it: `Doe,\u2800 Jane` hid its comma from the reordering (a probe). */
const SEPARATOR_RUN = new RegExp(`[${DRAWN_BLANK_CLASS}]*${SEPARATORS}[${DRAWN_BLANK_CLASS}${SEPARATORS.slice(1, -1)}]*`, 'gu');

/** Whether `text` has a character that shows: a name of Hangul fillers (`\u3164`) looks blank. */
export function showsSomething(text: string): boolean {
  return SHOWS_SOMETHING.test(text);
}

const SHOWS_SOMETHING = new RegExp(`[^${SHOWS_NOTHING_CLASS}\\s]`, 'u');

const LEADING_MARKS = /^\p{M}+/u;
const LEADING_STRAY = /^(\p{Cf}*)[\p{M}\u2800\u{1D159}\u3164\u115F\u1160\uFFA0]+/u;

/**
 * The first character that is a letter or a digit: `"Cher"` was masked `".`, `Jane «Dupont»` `Jane «.` and `@jane`
 * `@.`, no initial at all (a probe). A word without one (an emoji) gives its first character that shows.
 */
function initialOf(word: string): string {
  for (const { segment } of GRAPHEMES.segment(word)) {
    // NFKC: a circled or fullwidth letter (`ⓓ`) is a letter too; `Jane ⓓoe` was masked `Jane o.` (a regression probe).
    // Less what shows nothing: the Hangul fillers are letters (Lo) that draw blank (`Jane \u3164Doe` was `Jane ㅤ.`).
    if (LETTER_OR_DIGIT.test(segment.normalize('NFKC').replace(IGNORABLE, ''))) return segment.replace(LEADING_MARKS, '');
  }
  return firstCharacter(word.replace(LEADING_NOTHING, '')) ?? '';
}

const LETTER_OR_DIGIT = /^[^\p{L}\p{N}]*[\p{L}\p{N}]/u;
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;

const GRAPHEMES = new Intl.Segmenter('und', { granularity: 'grapheme' });

function firstCharacter(text: string): string | null {
  const first = GRAPHEMES.segment(text)[Symbol.iterator]().next();
  return first.done ? null : first.value.segment;
}
