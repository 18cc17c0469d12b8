import { describe, expect, it } from 'vitest';
import { maskDisplayName, maskEmail, maskPhone } from '../../src/policy/masks.js';

describe('maskEmail', () => {
  it('keeps the first character of the local part, three stars and the domain', () => {
    expect(maskEmail('jane.doe@example.com')).toBe('j***@example.com');
  });

  it('uses three stars whatever the length of the local part', () => {
    expect(maskEmail('j@example.com')).toBe('j***@example.com');
    expect(maskEmail(`${'a'.repeat(64)}@example.com`)).toBe('a***@example.com');
  });

  it('keeps a whole code point when the first character lies outside the BMP', () => {
    expect(maskEmail('𝒿ane@example.com')).toBe('𝒿***@example.com');
  });

  it('splits at the last @', () => {
    expect(maskEmail('"a@b"@example.com')).toBe('"***@example.com');
  });

  it('hides everything when the value is not an address', () => {
    expect(maskEmail('not-an-address')).toBe('***');
    expect(maskEmail('@example.com')).toBe('***');
    expect(maskEmail('jane@')).toBe('***');
    expect(maskEmail('')).toBe('***');
  });
});

describe('maskPhone', () => {
  it('keeps the plus and the last four digits, one star per hidden digit', () => {
    expect(maskPhone('+447700900123')).toBe('+********0123');
    expect(maskPhone('+14155552671')).toBe('+*******2671');
  });

  it('hides every digit of a number too short to show any, and one digit of a 4-digit national number', () => {
    expect(maskPhone('+1234')).toBe('+****');
    expect(maskPhone('+12')).toBe('+**');
    expect(maskPhone('+12345')).toBe('+****5');
  });

  // Saint Helena (+290) and Niue (+683) have 4-digit national numbers, the Falklands (+500) and Tokelau (+690) 5:
  // `+2904512` was masked `+***4512`, the whole national number (a probe).
  it('keeps at least three digits of the national number hidden', () => {
    expect(maskPhone('+2904512')).toBe('+******2');
    expect(maskPhone('+50022345')).toBe('+******45');
    expect(maskPhone('+6834123')).toBe('+******3');
    expect(maskPhone('+3541234567')).toBe('+******4567');
  });

  it('ignores formatting characters instead of letting them shift the mask', () => {
    expect(maskPhone('+44 7700 900123')).toBe('+********0123');
  });
});

describe('maskDisplayName', () => {
  // A probe: surname-first with a comma showed the surname whole, a suffix or a bracketed note was taken for the
  // surname, and a Braille blank glued to the first word was kept.
  it.each([
    ['Doe, Jane', 'Jane D.'],
    ['Doe, Jane Mary', 'Jane D.'],
    ['Jane Doe Jr.', 'Jane D.'],
    ['Jane Doe III', 'Jane D.'],
    ['Jane Doe, PhD', 'Jane D.'],
    ['Jane Doe (VIP)', 'Jane D.'],
    ['Jane Doe [old account] Sr', 'Jane D.'],
    ['Jane (VIP)', 'J.'],
    // A regression probe: British and numbered suffixes, and honours.
    ['Jane Doe Jnr', 'Jane D.'],
    ['John Doe Snr.', 'John D.'],
    ['Jane Doe MBE', 'Jane D.'],
    ['Jane Doe OBE', 'Jane D.'],
    ['Jane Doe 2', 'Jane D.'],
    ['John Doe 3rd', 'John D.'],
    ['John Doe 2nd', 'John D.'],
    ['Jane\u2800 Doe', 'Jane D.'],
    ['\u2800Jane Doe', 'Jane D.'],
    // A regression probe: other surname-first spellings, leading notes, notes with spaces, a bare comma, and real
    // surnames that look like suffixes.
    ['Doe Jr., Jane', 'Jane D.'],
    ['Doe , Jane', 'Jane D.'],
    ['Doe\u060C Jane', 'Jane D.'],
    ['Doe\uFF0C Jane', 'Jane D.'],
    ['(VIP) Jane Doe', 'Jane D.'],
    ['Jane ( VIP )', 'J.'],
    [', Jane', 'J.'],
    ['\u2800, Jane', 'J.'],
    ['Doe,', 'D.'],
    ['Naoko Ii', 'Naoko I.'],
    ['Rahim Md', 'Rahim M.'],
    ['(VIP)', 'V.'],
    // A second regression probe: unclosed and nested notes, credentials after a comma, more surname-first spellings.
    ['Jane Doe (VIP', 'Jane D.'],
    ['Jane (Doe', 'J.'],
    ['Jane Doe (VIP (gold))', 'Jane D.'],
    ['Jane Doe [a(b]c]', 'Jane D.'],
    ['Jane Doe jr', 'Jane D.'],
    ['Jane Doe jr.', 'Jane D.'],
    ['Jane Doe, RN', 'Jane D.'],
    ['Jane Doe, MBA', 'Jane D.'],
    ['Jane Doe, Ph.D', 'Jane D.'],
    ['Jane Doe, jr.', 'Jane D.'],
    ['Doe, Jane, Jr.', 'Jane D.'],
    ['Doe, Jane, Mary', 'Jane D.'],
    ['Doe, Jr., Jane', 'Jane D.'],
    ['Doe,\u2800 Jane', 'Jane D.'],
    ['Doe,\u3164 Jane', 'Jane D.'],
    ['Doe,\u200b Jane', 'Jane D.'],
    ['Doe,Jane Mary', 'Jane D.'],
    ['Doe\uFF0CJane Mary', 'Jane D.'],
    ['Doe; Jane', 'Jane D.'],
    ['Doe\u3001 Jane', 'Jane D.'],
    ['Doe\u201A Jane', 'Jane D.'],
    ['\uFF08VIP\uFF09Jane Doe', 'Jane D.'],
    ['Jane ,', 'J.'],
    [',', ',.'],
  ])('masks %j as %j', (name, masked) => {
    expect(maskDisplayName(name)).toBe(masked);
  });

  it('keeps the first word and the initial of the last word', () => {
    expect(maskDisplayName('Jane Doe')).toBe('Jane D.');
    expect(maskDisplayName('Jane Mary Doe')).toBe('Jane D.');
  });

  it('keeps only the initial of a single word', () => {
    expect(maskDisplayName('Cher')).toBe('C.');
  });

  it('takes the first letter or digit for the initial, not punctuation or a symbol before it (a probe: `".`, `Jane «.`)', () => {
    expect(maskDisplayName('"Cher"')).toBe('C.');
    expect(maskDisplayName("'Madonna'")).toBe('M.');
    expect(maskDisplayName('.Jane')).toBe('J.');
    expect(maskDisplayName('¿Ana?')).toBe('A.');
    expect(maskDisplayName('@jane')).toBe('j.');
    expect(maskDisplayName('Jane «Dupont»')).toBe('Jane D.');
    expect(maskDisplayName('Jane *Doe*')).toBe('Jane D.');
    expect(maskDisplayName('_Jane_ _Doe_')).toBe('_Jane_ D.');
    expect(maskDisplayName('Jane ~Doe')).toBe('Jane D.');
    expect(maskDisplayName('Jane "Doe"')).toBe('Jane D.');
    expect(maskDisplayName("Gerard 't Hooft")).toBe('Gerard H.');
    expect(maskDisplayName("Jan 's-Gravesande")).toBe('Jan s.');
    // A word without a letter or digit keeps its first character that shows.
    expect(maskDisplayName('Team 🙂')).toBe('Team 🙂.');
    // A combining mark that starts the shown first word sits on nothing (a probe: a dangling accent).
    expect(maskDisplayName('\u0301Jane Doe')).toBe('Jane D.');
    expect(maskDisplayName('\u0301Jane')).toBe('J.');
    // A regression probe: a blank behind the mark, a mark behind a format character, a circled letter, a signed number.
    expect(maskDisplayName('\u0301\u2800Jane Doe')).toBe('Jane D.');
    expect(maskDisplayName('\u200b\u0301Jane Doe')).toBe('\u200bJane D.');
    expect(maskDisplayName('Jane ⓓoe')).toBe('Jane ⓓ.');
    expect(maskDisplayName('Jane Doe #2')).toBe('Jane D.');
    expect(maskDisplayName('Jane Doe -2')).toBe('Jane D.');
    expect(maskDisplayName('Jane Doe (2)')).toBe('Jane D.');
    // Hangul fillers are letters that draw blank: no initial (a regression probe: `Jane ㅤ.`).
    for (const filler of ['\u3164', '\u1160', '\u115F', '\uFFA0', '\u1160\u0301', '\u3164\u3164']) expect(maskDisplayName(`Jane ${filler}Doe`)).toBe('Jane D.');
  });

  it('collapses and trims whitespace, newlines included', () => {
    expect(maskDisplayName('  Jane \n\t  Doe  ')).toBe('Jane D.');
    expect(maskDisplayName('\u00a0Jane\u3000Doe\u00a0')).toBe('Jane D.');
  });

  it('returns null when there is no name', () => {
    expect(maskDisplayName('')).toBeNull();
    expect(maskDisplayName('  \n ')).toBeNull();
  });

  it('counts in code points, not UTF-16 units', () => {
    expect(maskDisplayName('Ōsaka Ümit')).toBe('Ōsaka Ü.');
    expect(maskDisplayName('Jane 𝒟oe')).toBe('Jane 𝒟.');
    expect(maskDisplayName('𝒜lice')).toBe('𝒜.');
  });

  it('keeps the whole first character as a reader sees it: a conjunct, a flag, an emoji sequence, a letter with a mark that has no composed form', () => {
    expect(maskDisplayName('Raj क्षमा')).toBe('Raj क्ष.');
    expect(maskDisplayName('🇬🇧')).toBe('🇬🇧.');
    expect(maskDisplayName('Team 👨‍👩‍👧')).toBe('Team 👨‍👩‍👧.');
    expect(maskDisplayName('Ana Q\u0307ing')).toBe('Ana Q\u0307.');
    // What shows nothing is no initial, and a word of it no word (a probe: `Jane \u200f.`, `\u3164.`).
    expect(maskDisplayName('\u200fJane \u200fDoe')).toBe('\u200fJane D.');
    expect(maskDisplayName('Jane \u0301Doe')).toBe('Jane D.');
    expect(maskDisplayName('Jane Doe \u3164')).toBe('Jane D.');
    expect(maskDisplayName('\u3164 \u200b')).toBeNull();
    // Symbols drawn blank (a probe: `Jane \u2800.`).
    expect(maskDisplayName('Jane Doe \u2800')).toBe('Jane D.');
    expect(maskDisplayName('Jane \u{1D159}Doe')).toBe('Jane D.');
    expect(maskDisplayName('\u2800')).toBeNull();
    expect(maskDisplayName('Jane \u0080Doe')).toBe('Jane D.');
    expect(maskEmail('👩‍💻dev@example.org')).toBe('👩‍💻***@example.org');
  });

  it('gives the composed initial when the name was typed with combining marks', () => {
    expect(maskDisplayName('Ösaka U\u0308mit')).toBe('Ösaka Ü.');
  });

  it('keeps hyphenated and apostrophe names whole in the first word', () => {
    expect(maskDisplayName("Mary-Jane O'Brien")).toBe('Mary-Jane O.');
  });

  it('never shows more of the last word than its initial', () => {
    const masked = maskDisplayName('Jane Verylongsurname') ?? '';
    expect(masked).not.toContain('erylong');
  });
});
