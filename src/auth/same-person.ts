/**
 * One person behind several token subjects. JWT subjects are case-sensitive strings, but identity providers whose user
 * names ignore case issue `agent-a` and `Agent-A` for one person: the two-person rule, the support-session cap per
 * caller and the rate limits per caller all count a person by `personOf(sub)`.
 */

/**
 * Whether two token subjects name one person, for the two-person rule: compared without case or compatibility forms.
 * JWT subjects are case-sensitive strings, but identity providers whose user names ignore case (directory accounts,
 * email-style logins) issue `agent-a` and `Agent-A` for one person, who then approved their own request (a probe).
 */
export function isSamePerson(a: string, b: string): boolean {
  return personOf(a) === personOf(b);
}

/** Punctuation, symbols and modifier letters: one separator to personOf, unless they stand for a letter or digit. */
const SEPARATOR_LIKE = /[\p{P}\p{S}\p{Lm}]/gu;
/** A letter that is no modifier letter, or a digit: what a circled, superscript or squared form stands for. */
const LETTER_OR_DIGIT = /[\p{Lu}\p{Ll}\p{Lt}\p{Lo}\p{N}]/u;

/**
 * A punctuation mark, symbol or modifier letter as `-`, but for one whose compatibility form holds a letter or digit
 * (`ⓐ`, `ᵃ`, `ᴬ`, `ʰ`, `㎏`), which NFKD then turns into them: taken for separators, `ⓐgent-a` and `agent-ᵃ` approved
 * `agent-a`'s grant, and `Ⓐlice` was `Ⓑlice` (a regression probe).
 */
function asSeparator(character: string): string {
  return LETTER_OR_DIGIT.test(character.normalize('NFKD')) ? character : '-';
}

/**
 * Latin letters that look like punctuation: the click letters `ǀ ǁ ǂ ǃ` (U+01C0-U+01C3), the glottal stops `ʔ ɂ Ɂ`
 * (U+0294, U+0242, U+0241, and their kin `ʕ ʡ ʢ ʖ ᴤ`, a `?`), the combining commas (U+0312-U+0315, U+0326, U+0343,
 * an apostrophe over or under a letter: `o\u0315brien` approved `o'brien`'s grant; the Greek breathings among them
 * make names with and without them one person, the safe side), the saltillo `Ꞌ ꞌ` (U+A78B, U+A78C, an apostrophe), the sinological dot `ꞏ`
 * (U+A78F) and the epigraphic `ꟷ ꟾ` (U+A7F7, U+A7FE, a dash or a bar). As letters they were kept, and `agentꞏsam`,
 * `agentǀsam`, `agentǃ`, `oꞌbrien`, `agentʔ` and `agentꟷa` approved the grants of `agent.sam`, `agent|sam`,
 * `agent!`, `o'brien`, `agent?` and `agent-a` (regression probes). The price: names written with click letters
 * (`ǃxu`) are one person with the name without them (`xu`), the safe side.
 */
/** From a plus sign (any form) to the at sign (any form) of the subject's last `@`. */
const PLUS_TAG = /[+\uFF0B\uFE62][^@\uFF20\uFE6B]*(?=[@\uFF20\uFE6B][^@\uFF20\uFE6B]*$)/u;

const PUNCTUATION_LIKE_LETTERS = /[\u01C0-\u01C3\u0241\u0242\u0294\u0295\u02A1\u02A2\uA78B\uA78C\uA78F\uA7F7\uA7FE\u0296\u1D24\u0312-\u0315\u0326\u0343]/gu;

/**
 * Letters in boxes and circles that have no compatibility form (negative circled and squared, regional indicators):
 * `agent-🅐` approved `agent-a`'s grant once symbols were taken for separators (a regression probe).
 */
const ENCLOSED_LETTERS = [0x1f150, 0x1f170, 0x1f1e6];
const ENCLOSED_LETTER = /[\u{1F150}-\u{1F169}\u{1F170}-\u{1F189}\u{1F1E6}-\u{1F1FF}]/gu;

function asLetter(character: string): string {
  const code = character.codePointAt(0) as number;
  const first = ENCLOSED_LETTERS.find((start) => code >= start && code < start + 26) as number;
  return String.fromCharCode(0x41 + code - first);
}

/**
 * The person a subject names, as the two-person rule and the per-caller caps compare subjects: compatibility forms
 * (fullwidth, ligatures, the Kelvin sign) as their letters, the dot above dropped (the dotted capital `İ` lower-cases
 * to `i` and a dot above), punctuation, symbols and modifier letters as `-` (U+2010 is left alone by NFKC), and case
 * folded through upper case (`ẞ` to `ß` to `SS` to `ss`, as `straße` and `STRASSE` are one person; a regression probe
 * approved `STRAẞE` beside `strasse`).
 */
export function personOf(sub: string): string {
  return sub
    // A plus tag of an email-like subject reaches the same mailbox: `agent.sam+approve@corp.example` approved
    // `agent.sam@corp.example`'s grant (a probe). `a+b@x` and `a+c@x` are one person too, the safe side.
    .replace(PLUS_TAG, '')
    .replace(ENCLOSED_LETTER, asLetter)
    .replace(PUNCTUATION_LIKE_LETTERS, '-')
    // Before compatibility forms too: some decompose into a space and a mark (U+2017 ‗, the double low line).
    .replace(SEPARATOR_LIKE, asSeparator)
    .normalize('NFKD')
    // Only the dot above that `İ` lower-cases to (after an i): other marks tell names apart (राम and रम, かとう and
    // がとう, hà and hạ, андреи and андрей, and with every dot above dropped Żak and Zak, were one; regression probes).
    .replace(/(?<=[iI])\u0307/g, '')
    // Every punctuation mark, symbol and modifier letter compares as one: probes approved their own grants as
    // `agent˗a` (U+02D7), `agent⁃a` and `agent➖a` beside `agent-a`, `agent܁sam` and `agentꓸsam` beside `agent.sam`
    // and `agentˍsam` beside `agent_sam`, and a list of look-alikes missed the next one each time. So `a.b`, `a_b` and
    // `a-b` (and `ab`) are one person here: the safe side, as for case, and so are modifier letters that stand for no letter (tone
    // and iteration marks). Letters and digits of other scripts are kept apart.
    .replace(SEPARATOR_LIKE, asSeparator)
    .toLowerCase()
    .toUpperCase()
    .toLowerCase()
    .normalize('NFKC')
    // Marks resting on a separator, a space or nothing are no letter's: `agent \u0332sam` (a low line over a space)
    // approved `agent_sam`'s grant, and `agent-\u0301a` `agent-a`'s (a regression probe).
    .replace(/(?<=^|[\s-])\p{M}+/gu, '')
    // And then no separator at all, nor a space: how many stand where, or whether any does, tells no two people apart
    // (a probe approved `agent.zed`'s grant as `agent..zed`, `agentzed`, `agent zed`, `agent.zed.` and `-agent.zed`,
    // and `jane.doe@corp.example`'s as `janedoe@corp.example`).
    .replace(/[\s-]/gu, '');
}
