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
 * last four digits. A number of four digits or fewer is hidden completely,
 * since its last four digits would be the whole number.
 */
export function maskPhone(e164: string): string {
  // Input is E.164; keeping only the digits makes a stray space or dash
  // harmless instead of shifting which digits are shown.
  const digits = e164.replace(/[^0-9]/g, '');
  const shown = digits.length > 4 ? digits.slice(-4) : '';
  return `+${'*'.repeat(digits.length - shown.length)}${shown}`;
}

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
  const words = displayName.normalize('NFC').trim().split(/\s+/u).filter(showsSomething);
  const firstWord = words[0];
  if (firstWord === undefined) return null;
  if (words.length === 1) {
    return `${initialOf(firstWord)}.`;
  }
  const lastWord = words[words.length - 1] ?? '';
  return `${firstWord} ${initialOf(lastWord)}.`;
}

/**
 * Characters that show nothing of their own: format characters (RLM, zero-width
 * ones), the other default-ignorable code points (Hangul fillers), and
 * combining marks, which sit on the character before them; control characters;
 * and the symbols
 * drawn blank, the Braille pattern blank (U+2800) and the musical null
 * notehead (U+1D159), which a probe used as a whole name and as an initial.
 */
const SHOWS_NOTHING_CLASS = String.raw`\p{Cf}\p{Default_Ignorable_Code_Point}\p{M}\p{Cc}\u2800\u{1D159}`;
const LEADING_NOTHING = new RegExp(`^[${SHOWS_NOTHING_CLASS}]+`, 'u');

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
