import { BadUserInputError } from '../errors.js';
import { asciiDigits } from './normalise-identifier.js';

// An email address anywhere in the text. Tried only where a word starts (the lookbehind): tried from every character,
// a long word without an at sign was scanned again from each of its characters (quadratic).
// Its last label holds a letter: `react@18.3.1` and `openssl@3.0` are versions, not addresses (a false-refusal sweep).
const EMAIL_LIKE = /(?<![^\s@])[^\s@]+@[^\s@]*\.[^\s@.]*\p{L}/u;
// The dot of a disguised address: a real one, tight between labels (a sentence's `. ` is not one), or `dot` as a word.
const DOT = String.raw`(?:\.|\s+(?:dot|DOT|Dot)\s+)`;
// A domain after a disguised at sign: labels, then a top-level domain of letters, in one case after a real dot
// (`org`, `ORG`: neither `10.30` nor a sentence run together, `billing.Refund`, counts) and in any after `dot`.
const DOMAIN = String.raw`[\p{L}\p{N}-]+(?:${DOT}[\p{L}\p{N}-]+)*(?:\.(?:\p{Ll}{2,}|\p{Lu}{2,})|\s+(?:dot|DOT|Dot)\s+\p{L}{2,})(?![\p{L}\p{N}])`;
// Words that follow "at" in ordinary text and never begin an address's domain (`looked at the dot com page`).
const NOT_A_DOMAIN = String.raw`(?!(?:the|a|an|my|your|our|his|her|their|its|this|that|these|those|home|work|least|most|all|once|first|last|noon|night)\b)`;
// An address whose at sign is disguised: `zelda at example dot org`, `zelda AT example.org`, or an `@` whose dots
// are spelled (`zelda@example dot org`, what is left of a spaced-out address once its letters are joined).
// Words that stand before "at" and a site in ordinary text, and are no one's mailbox: `Customer logged in at
// app.example.com`, `Item purchased at Amazon.de`, `Error at checkout.stripe.com` were refused (a false-refusal sweep).
// Not words a mailbox is often named (`me`, `her`, `user`, `customer`, `order`, `shop`: `user at example.org` passed
// for a while; a regression probe).
const NOT_A_LOCAL_PART = String.raw`(?!(?:${[
  'in', 'up', 'on', 'out', 'off', 'it', 'this', 'that', 'us', 'them', 'him', 'here', 'there', 'online', 'again', 'once', 'twice',
  'purchased', 'bought', 'ordered', 'paid', 'shopped', 'booked', 'subscribed', 'registered', 'signed', 'logged', 'login', 'signup', 'opt-in',
  'error', 'errors', 'failed', 'failure', 'fails', 'issue', 'issues', 'problem', 'problems', 'crash', 'crashed', 'stuck', 'declined', 'timeout',
  'checkout', 'payment', 'item', 'items', 'account', 'available', 'listed', 'sold', 'found', 'seen', 'works', 'working', 'arrived',
  'delivered', 'returned', 'redirected', 'located', 'hosted', 'live', 'published', 'posted', 'reported', 'page', 'site', 'website', 'store',
  'app', 'portal',
]
  .flatMap((word) => [word, word[0]!.toUpperCase() + word.slice(1), word.toUpperCase()])
  .join('|')})\s)` +
  // Nor any word after an article or a possessive: `an order at amazon.com`, `the user at app.example.com` (a regression
  // probe found `Placed an order at amazon.com` refused once `order` left the list).
  String.raw`(?<!(?:^|\s)(?:a|an|the|my|your|our|their|his|its|A|An|The|My|Your|Our|Their|His|Its)\s)`;
const DISGUISED_EMAIL_LIKE = new RegExp(String.raw`(?<![^\s@])(?:${NOT_A_LOCAL_PART}[^\s@]+\s+(?:at|AT|At)\s+${NOT_A_DOMAIN}|[^\s@]+@)${DOMAIN}`, 'u');
// Seven or more digits with nothing but separators between them: spaces, brackets, dots and dashes as people type
// phone numbers, and any other punctuation or symbol too (`07700_900_123`, `44/7700/900/123`, `44:7700:900:123`
// read back as a number just as well). A letter ends the run. The class cannot match a digit, so this stays linear.
const PHONE_LIKE = /\+?\d(?:[^\p{L}\p{N}]*\d){6,}/u;
// Dates, times and amounts have seven or more digits too (`2024-11-30`, `09:00-17:30`, `1,250.00 - 250.00`) and are
// everyday support text: they are replaced by a letter before the phone check, which ends the digit run there. Only
// shapes a phone number does not take: a real calendar date (Gregorian, Buddhist `25xx` and Solar Hijri `13xx`/`14xx`
// years too), a clock time, an amount whose thousands are grouped with one separator (`,` `.` space, narrow space,
// apostrophe, the Arabic one; Indian lakh grouping too) that has decimals or a currency next to it. Read with every
// script's digits as ASCII first: `٢٠٢٤/١١/٣٠`, `₩1,250,000`, `1 250 000,50 €` and `CHF 1'250'000.50` were refused as
// phone numbers (a probe). A phone number written as an amount (`+44 770 090 012 €`) passes here; the screen for the
// customer's own numbers (CustomerService) still reads it.
const YEAR = String.raw`(?:1[34]|19|20|25)\d\d`;
const MONTH = String.raw`(?:0?[1-9]|1[0-2])`;
const DAY = String.raw`(?:0?[1-9]|[12]\d|3[01])`;
const CLOCK = String.raw`(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?`;
/** Thousands grouped with one separator (the group after `\d{1,3}` names it), or Indian lakh and crore grouping. */
const GROUPED = String.raw`(?:\d{1,3}([,.\u00A0\u202F '\u2019\u066C])\d{3}(?:\1\d{3})*|\d{1,2}(?:,\d{2})+,\d{3})`;
const DECIMALS = String.raw`[.,\u066B]\d{1,2}`;
/** Three decimals too, next to a currency only (dinars: `KWD 1,234.567`); alone, `700.900.123` would read as one. */
const CURRENCY_DECIMALS = String.raw`[.,\u066B]\d{1,3}`;
/** Every ISO 4217 code ICU knows (Node ships full ICU): what a transaction's `currency` may be. */
export const ISO_CURRENCIES: ReadonlySet<string> = new Set(Intl.supportedValuesOf('currency'));
// The same codes next to an amount (a hard-coded list refused `CLP 1.234.567`, a false-refusal sweep).
const CURRENCY_CODES = [...ISO_CURRENCIES].join('|');
const CURRENCY = String.raw`(?:\p{Sc}|\b(?:${CURRENCY_CODES})\b)`;
const DATES_TIMES_AMOUNTS = [
  String.raw`(?<!\d)${YEAR}([-./])${MONTH}\1${DAY}(?:[T ]${CLOCK})?(?!\d)`,
  String.raw`(?<!\d)${DAY}([-./])${DAY}\1(?:19|20|25)\d\d(?!\d)`,
  String.raw`(?<!\d)${CLOCK}(?!\d)`,
  String.raw`(?<!\d)${GROUPED}${DECIMALS}(?!\d)`,
  String.raw`${CURRENCY}\s?${GROUPED}(?:${CURRENCY_DECIMALS})?(?!\d)`,
  String.raw`(?<!\d)${GROUPED}(?:${CURRENCY_DECIMALS})?\s?(?:${CURRENCY}|[원円元])`,
  // Ungrouped, as machines write amounts, with decimals and a currency next to them: `USD 12345.67`, `1234.567 BHD`.
  // Up to nine digits, and no more digits joined on after the decimals: `TRY 06.12.34.56.78` and `USD
  // 447700900123.45` passed as amounts once (a regression probe). What stands before is not looked at: refusing an
  // amount after another number refused `Order #12345 99.00 USD` (the next regression probe), so a number written
  // as an amount with a currency (`+44 7700 900123.00 GBP`) passes, as the grouped form always has.
  String.raw`${CURRENCY}\s?\d{1,9}${CURRENCY_DECIMALS}(?![.,\u066B]?\d)`,
  String.raw`(?<![\d.,\u066B])\d{1,9}${CURRENCY_DECIMALS}\s?${CURRENCY}`,
].map((pattern) => new RegExp(pattern, 'gu'));

/** Dates, times and amounts (the shapes above) replaced by a letter, which ends a digit run. */
export function maskDatesTimesAmounts(text: string): string {
  return DATES_TIMES_AMOUNTS.reduce((masked, pattern) => masked.replace(pattern, 'D'), asciiDigits(text));
}

/**
 * The text as the patterns should see it: look-alikes written in other forms
 * of Unicode would otherwise pass (fullwidth `＠` and digits, Arabic-Indic or
 * Devanagari digits, zero-width characters between digits, typographic
 * dashes), while libphonenumber and mail clients read them as the real thing.
 * NFKC folds compatibility forms (fullwidth, small, circled) to ASCII; every
 * other decimal digit becomes `0` (only the digit count matters here);
 * invisible characters (`INVISIBLE`) are dropped; dashes become `-`.
 */
/** A run of separators (spaces, punctuation, symbols, `_`) with at least one that is not a space. */
const SEPARATORS = String.raw`\s*[^\p{L}\p{N}\s][^\p{L}\p{N}]*`;
/** Where such a run starts: the text's start or a letter or digit before it. */
const RUN_START = String.raw`(?<![^\p{L}\p{N}])`;

/**
 * Characters that display as nothing: format characters (zero-width space and joiners, soft hyphen, directional
 * marks) and the rest of Unicode's default-ignorable code points, which are letters or marks rather than format
 * characters: the Hangul fillers (U+3164, U+FFA0, U+115F, U+1160), the combining grapheme joiner, variation
 * selectors. A probe stored `+44\u3164 7700\u3164 900\u3164 123` in a ticket subject: the filler, a letter, ended
 * the digit run.
 */
const INVISIBLE = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/gu;

/**
 * Dashes, and letters that look like one or like a colon between digits: typographic dashes and the minus sign; the
 * katakana prolonged sound mark `ー` (U+30FC), which Japanese IMEs type as the dash of a phone number and
 * libphonenumber reads as one; the Arabic tatweel (U+0640); the modifier letters `ː`/`ˑ` (U+02D0, U+02D1). The last
 * three are letters, which ended a digit run: `+81 90ー1234ー5678` registered as a phone number and was stored in a
 * ticket subject (a probe).
 */
const DASHES = /[\p{Pd}\u2212\u30FC\u0640\u02D0\u02D1]/gu;

function foldForDetection(text: string): string {
  const spelled = text
    .normalize('NFKC')
    .replace(INVISIBLE, '')
    // A UUID, or a long hex id (a commit, a hash): its digit groups joined across hyphens or letters are no phone
    // number. About a third of random UUIDs and almost half of git commit ids in ticket subjects were refused (a
    // false-refusal sweep).
    .replace(UUID_ALONE, 'x')
    .replace(LONG_HEX, 'x')
    // Spelled-out and percent-encoded at signs and dots: `jane%40example.org`, `jane (at) example [dot] org`
    // (before the digits are folded, which would turn `%40` into `%00`).
    // Percent-encoded, also twice (`%2540`), and escaped as in source code or JSON (`\u0040`, `\x40`).
    .replace(/%(?:25)*40/gi, '@')
    .replace(/\\(?:u0040|x40|u\{40\})/gi, '@')
    // Ideographic full stops, which IDNA reads as dots in a domain (NFKC folds the fullwidth one, not these).
    .replace(/[\u3002\uff61]/g, '.')
    // HTML character references, as text copied out of an email or a CRM page carries them: `&#64;`, `&#x40;`, `&commat;`.
    .replace(/&(?:#0*64|#x0*40|commat);?/gi, '@')
    .replace(/&(?:#0*46|#x0*2e|period);?/gi, '.')
    // `at`/`dot` set off by punctuation or symbols: `(at)`, `[dot]`, `<at>`, `-at-`, `"at"`, `_at_`; and `at sign`.
    // Each side is one run of separators holding at least one that is not a space, matched from the run's start
    // only and in one way: `\s*` up to the first such separator, then the rest of the run. (The earlier form,
    // `[\s_]*(?:[^\p{L}\p{N}\s]|_)+[\s_]*`, could split a run of underscores in exponentially many ways: 26 of them
    // in an x-request-id blocked the process for 5 s, before the token was even checked.)
    .replace(new RegExp(String.raw`${RUN_START}${SEPARATORS}at(?:[\s-]?sign)?${SEPARATORS}`, 'giu'), '@')
    .replace(new RegExp(String.raw`${RUN_START}${SEPARATORS}dot${SEPARATORS}`, 'giu'), '.')
    .replace(/(?<!\s)\s+at[\s-]sign\s+/gi, '@');
  return maskDatesTimesAmounts(spelled).replace(/\p{Nd}/gu, '0').replace(DASHES, '-');
}

export function containsIdentifier(text: string): boolean {
  const folded = foldForDetection(text);
  if (EMAIL_LIKE.test(folded) || PHONE_LIKE.test(folded) || DISGUISED_EMAIL_LIKE.test(folded) || DISGUISED_EMAIL_LIKE.test(closeUpSpacing(folded))) return true;
  // Read as quoted-printable too, for a plain address only (`jane=40example.com` in a ticket subject was stored; a
  // probe): the lenient checks above refused ordinary text read that way (`?zoom=40&file=report.pdf`, `build=40.1.2`).
  return /=40/i.test(text) && QP_ADDRESS.test(decodeQuotedPrintable(text));
}

/** An address as quoted-printable text spells it once decoded: `jane=40example=2Ecom`. */
const QP_ADDRESS = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b/;

/**
 * An address written with spaces (`z e l d a @ e x a m p l e . o r g`, `zelda @ example . org`), closed up: runs of
 * one-character words are joined, an `@` loses the spaces around it, and a `.` with spaces on both sides reads as
 * `dot`. A sentence keeps its spaces (`Meeting @ 10.30 with the team. Then` becomes `Meeting@D with the team. Then`,
 * no address).
 */
function closeUpSpacing(text: string): string {
  // Each run of spaces is tried once, from its start (`(?<!\s)`): tried from each space, a long run was quadratic.
  return text
    .replace(/(?<=(?:^|\s)\S)\s+(?=\S(?:\s|$))/gu, '')
    .replace(/(?<!\s)\s*@\s*/g, '@')
    // Spaced on both sides, a dot is as deliberate as a spelled one (`zelda @ example . Org`).
    .replace(/(?<!\s)\s+\.\s+/g, ' dot ');
}

// Bidirectional embeddings, overrides and isolates: they reorder how stored text displays (a reason or subject could
// read differently in a compliance tool than it was written). The marks LRM/RLM/ALM stay allowed.
// eslint-disable-next-line no-control-regex
// C1 controls too (U+0080-U+009F): a probe hid one in a display name, where it shows nothing (2026-12-01).
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** Control characters, and bidirectional controls, have no place in text that is stored and shown. */
export function hasControlCharacters(text: string): boolean {
  return CONTROLS.test(text);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/i;

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });
const BASE64URL_TEXT = /^[A-Za-z0-9_-]{8,}$/;
const HEX_TEXT = /^(?:[0-9A-Fa-f]{2}){4,}$/;

/**
 * What an id (an `x-request-id`, an operation name) reads as when it is, whole, base64 or hex of text: base64url,
 * standard base64 without its padding, or hex with any `-`, `.`, `:` or `_` between (a UUID made of an address's hex),
 * decoded to printable UTF-8 of 4 characters or more. A probe's request ids and operation names were an address, a
 * phone number and a CRM id in base64 and hex, logged and kept in an audit event after the erasure. Only the whole id
 * is decoded; an encoding inside a longer id, and other encodings, are not looked for.
 */
export function decodedTextsOf(id: string): string[] {
  const texts: string[] = [];
  const keep = (bytes: Buffer) => {
    let text: string;
    try {
      // Zero bytes that pad it to a length (a UUID made of a shorter text's hex) are no part of the text.
      let end = bytes.length;
      while (end > 0 && bytes[end - 1] === 0) end -= 1;
      // Spaces and line ends around it too (`echo address | base64` ends in a newline; a regression probe).
      text = STRICT_UTF8.decode(bytes.subarray(0, end)).trim();
    } catch {
      return;
    }
    if (text.length >= 4 && !/[\p{Cc}\p{Cf}\uFFFD]/u.test(text)) texts.push(text);
  };
  // Canonical only: Node decodes anything, so the bytes must encode back to the id.
  if (BASE64URL_TEXT.test(id) && id.length % 4 !== 1) {
    const bytes = Buffer.from(id, 'base64url');
    if (bytes.toString('base64url') === id) keep(bytes);
  }
  const hex = id.replace(/[-.:_]/g, '');
  if (HEX_TEXT.test(hex)) keep(Buffer.from(hex, 'hex'));
  return texts;
}

/** Seven digits in a row, dashes between them aside: as many as the shortest phone number has. */
const SEVEN_DIGITS = /\d(?:-?\d){6}/;

/**
 * A UUID (any version) or a W3C traceparent holding no seven digits in a row (dashes aside): an id a gateway or tracer
 * generates, not a customer's. One that holds them may spell a phone number (`00000000-0000-4000-8000-447700900861`,
 * `44770090-0861-4000-…`: taken unscreened, both were logged and kept in audit events after an erasure; a probe), so
 * it goes to the stored-identifier screen like any other id (about a third of random UUIDs do).
 */
export function isTraceId(value: string): boolean {
  return (UUID.test(value) || TRACEPARENT.test(value)) && !SEVEN_DIGITS.test(value);
}
// A UUID inside a longer id (`call-<uuid>`, `urn:uuid:<uuid>`, `<uuid>:1`): its all-digit groups are not a number.
const UUID_INSIDE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
/**
 * A UUID with no digit before it: `447700900-1234-4abc-…` is no UUID, and its first digits are no part of one. A letter
 * before it is fine (`ID123e4567-…`, the `F` of an escaped `%2F` in a link; a regression probe).
 */
const UUID_ALONE = /(?<!\d)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9A-Za-z])/gi;
/** A hex id of 20 or more characters with a letter in it, standing as a word of its own. */
const LONG_HEX = /(?<![0-9A-Za-z])(?=[0-9A-Fa-f]*[A-Fa-f])[0-9A-Fa-f]{20,}(?![0-9A-Za-z])/g;
/**
 * A year, or a compact date, right after a reference's letters: `DSR-2024-0042`, `RTBF-20241130-0042`,
 * `chat_20241130_143022_b4a6`. Read as part of the reference, what follows is read on its own: such erasure request
 * ids and interaction ids were refused as phone numbers (a false-refusal sweep). `ivr-447700900736` still is.
 */
// A year that begins a whole date (`DSR-2024-11-30-0042`) is left to the date's own mask: taken alone, it left
// `11-30-0042` to read as a number (a regression probe). Not one joined by `_`, which the date mask does not read
// (`DSR_2024_11_30` was refused by the version that left those too; the next regression probe).
// A compact date takes a compact time after a separator (`req-20250115-143022-0042`, `20250115T143022`), and a year a
// `:` after it (`erasure:2025:0042:final`): both were refused as phone numbers (a regression probe). Not a time run
// into the date: `DSR-201101012359` is a phone number too (+20 11 0101 2359; the next regression probe); and with its
// seconds only, so that `x-20241130_1430_447700` leaves 10 digits to read. (`DSR-20110101-2359`, a date and four more
// digits, passes as `RTBF-20241130-0042` must; such numbers are the known price of reading dates aside.)
const REFERENCE_DATE =
  /(?<=[A-Za-z][-_/.:]?)(?:19|20)\d\d(?:(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?:[-_T](?:[01]\d|2[0-3])[0-5]\d[0-5]\d)?(?!\d)|(?=[-_/.:]\d)(?!([-/.])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])(?!\d)))/g;
const CHANNEL_PREFIX = /(whatsapp|wa|tel|phone|sms|mms|mobile|mob|cell|msisdn|viber|signal|telegram|imessage)(?=\+?\d)/gi;
/**
 * A phone number as a URI names it, `scheme:number`: `tel:447700900123`, `smsto:447700900123`, `whatsapp:44-7700-900125`
 * (seven or more digits, whatever separators stand between them: `tel:44..7700..900..123` and `tel::447700900123`
 * passed a first version; the `+` of E.164 cannot be in a record id). A namespaced reference under such a scheme
 * (`TEL:2024-000123`) is refused with them: `TEL-2024-000123` is not. A channel's name as an ordinary prefix
 * (`WA-2024-1130-0042`, `TEL-2024-000123`, `sms-20241130-000123`) is no scheme: the first version of this rule, any
 * channel word before a number, refused such ids (a regression probe).
 */
const PHONE_URI = /(?<![A-Za-z0-9])(?:tel|telprompt|telephone|phone|mobile|mob|cell|msisdn|modem|fax|sms|smsto|mms|mmsto|whatsapp|wa|callto|sip|sips|facetime|facetime-audio|skype|viber|signal|telegram|tg|imessage|rcs|zoomtel|zoomphonecall):[._:-]*\d(?:[._:-]*\d){6,}/i;

// Digits that touch a letter: part of an id's own characters (a hex hash, a call SID, `fp_1234567abc`).
const DIGITS_IN_A_WORD = /(?<=[A-Za-z])\d+|\d+(?=[A-Za-z])/g;

/**
 * Percent-escapes (also escaped twice), numeric HTML character references and backslash escapes, decoded: in
 * `tel%3A%2B447700900555` or `\u002b\u0034\u0034...` the phone number's digits would otherwise touch the letter of
 * an escape and pass as part of an id.
 */
function decodeEscapes(text: string): string {
  let decoded = text;
  for (let round = 0; round < 3 && /%[0-9a-f]{2}/i.test(decoded); round++) {
    decoded = decoded.replace(/%([0-9a-f]{2})/gi, (_escape, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  }
  const char = (code: number): string => (code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : '');
  return decoded
    .replace(/&#x([0-9a-f]{1,6});?/gi, (_ref, hex: string) => char(parseInt(hex, 16)))
    .replace(/&#([0-9]{1,7});?/g, (_ref, digits: string) => char(Number(digits)))
    // Escapes as in source code or JSON: `jane\u0040example.com`, `\x40`, `\u{40}`, `\u002b\u0034...` (a phone number).
    .replace(/\\u\{([0-9a-f]{1,6})\}|\\u([0-9a-f]{4})|\\x([0-9a-f]{2})/gi, (_escape, braced?: string, four?: string, two?: string) =>
      char(parseInt((braced ?? four ?? two) as string, 16)),
    );
}

/**
 * Quoted-printable, as mail systems write `=40` for `@` and `=2E` for `.`: printable ASCII only. Decoding every `=XX`
 * turned `case=AA1234567` into `caseª1234567`, a number standing apart, and refused an ordinary reference; decoding
 * only `@`, `+` and digits let `jane=40example=2Ecom` and `caller=2B44=2D7700=2D900123` through.
 */
function decodeQuotedPrintable(text: string): string {
  return text.replace(/=([2-7][0-9A-F])/gi, (escape, hex: string) => {
    const code = parseInt(hex, 16);
    return code >= 0x20 && code <= 0x7e ? String.fromCharCode(code) : escape;
  });
}

/**
 * Text as the identifier checks read it: escapes decoded (percent, HTML, backslash, quoted-printable), NFKC
 * (fullwidth letters and digits), invisible characters (zero-width, Hangul fillers) removed, typographic dashes as `-`.
 */
export function foldForMatching(text: string): string {
  return decodeQuotedPrintable(decodeEscapes(text))
    .normalize('NFKC')
    .replace(INVISIBLE, '')
    .replace(DASHES, '-');
}

/**
 * A correlation id or device token that the audit trail, the logs or a snapshot keep (request ids, interaction
 * ids, device fingerprints): a UUID passes as it is; anything else must not hold an email address or a phone
 * number. Digits that touch a letter belong to the id (random hex has runs of ten digits in about one 64-character
 * hash in six, and in one Twilio call SID in twelve: both were refused when every hex digit run was checked); a
 * number standing apart is checked as in free text, so `wa:447700900555`, `+44 7700 900555` or a phone number
 * padded to an id's length (`0044770090073600`) are refused, escaped too (`tel%3A%2B447700900555`). A UUID inside a
 * longer id counts as the id's own as well.
 */
export function isSafeReference(value: string): boolean {
  if (UUID.test(value)) return true;
  // A channel's name run into a number is an address, not an id's own characters: `whatsapp447700900555`.
  const decoded = decodeEscapes(value).replace(CHANNEL_PREFIX, '$1 ');
  // Read both as it is and as quoted-printable: `caller=447700900555` is a number after `=`, `jane=40example.com` an address.
  return [decoded, decodeQuotedPrintable(decoded)].every(
    (text) => !containsIdentifier(text.replace(UUID_INSIDE, 'x').replace(REFERENCE_DATE, 'x').replace(DIGITS_IN_A_WORD, 'x')),
  );
}

/**
 * A support record's id (letters, digits, `.` `_` `:` `-`) that is a phone number's URI (`PHONE_URI`): a probe
 * stored `tel:447700900123` and `whatsapp:447700900125` as ticket and transaction ids, shown to every agent. A bare
 * digit run (an order number) or one after a word (`ORD-2024-10045`, `sms-20241130-000123`) is a reference and is
 * not refused here; the customer's own numbers are screened by hash in any form (CustomerService).
 */
export function isPhoneUri(value: string): boolean {
  return PHONE_URI.test(value);
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
  if (hasControlCharacters(trimmed)) throw new BadUserInputError(`${field} must not contain control characters`, { field });
  // A reference (an erasure's requestId) may be a UUID or a long hex id, whose digit runs are not phone numbers.
  if (isReference ? !isSafeReference(trimmed) : containsIdentifier(trimmed)) {
    throw new BadUserInputError(`${field} must not contain an email address or phone number`, { field });
  }
  return trimmed;
}
