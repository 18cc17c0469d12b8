import { describe, expect, it } from 'vitest';
import { isSamePerson } from '../../src/auth/same-person.js';

describe('the two-person rule compares subjects as one person would be named', () => {
  it.each([
    ['agent-a', 'Agent-A'],
    ['strasse', 'STRAẞE'],
    ['straße', 'STRASSE'],
    ['agenti', 'AGENTİ'],
    ['agenti', 'AGENTı'],
    ['agent-a', 'agent‐a'],
    ['agent-a', 'ａｇｅｎｔ－ａ'],
    // Hyphen look-alikes outside the dash category (a probe).
    ['agent-a', 'agent\u02D7a'],
    ['agent-a', 'agent\u2043a'],
    ['agent-a', 'agent\u2796a'],
    ['agent-a', 'agent\u2212a'],
    ['agent-a', 'agent\u06D4a'],
    ['agent.sam', 'agent\uA4F8sam'],
    ['agent.sam', 'agent\u0701sam'],
    ['agent_sam', 'agent\u02CDsam'],
    ['agent_sam', 'agent\u2017sam'],
    ['agent+sam@example.com', 'agent\uFE62sam\uFE6Bexample\u2024com'],
    // One separator for another: the safe side.
    ['jane.doe', 'jane_doe'],
    // More separators, fewer or none, or a space (a probe approved its own grant with each).
    ['agent.zed', 'agent..zed'],
    ['agent.zed', 'agentzed'],
    ['agent.zed', 'agent zed'],
    ['agent-zed', 'agent-zed.'],
    ['agent-zed', '-agent-zed'],
    ['agent_zed', 'agent__zed'],
    ['agent zed', 'agent  zed'],
    ['jane.doe@corp.example', 'janedoe@corp.example'],
    ['agent-a', 'agent--a'],
    // Latin letters that look like punctuation (a regression probe approved its own grants with them), and an at sign
    // in another form.
    ['agent.sam', 'agent\uA78Fsam'],
    ['agent|sam', 'agent\u01C0sam'],
    ['agent!', 'agent\u01C3'],
    ['ab@c.example', 'ab\uFF20c.example'],
    // More Latin letters like punctuation, marks on a space or a separator, and at signs counted as separators again
    // (a regression probe approved its own grants with each, `@sam` for `sam` once an at sign was kept).
    ['agent-a', 'agent\uA7F7a'],
    ["o'brien", 'o\uA78Cbrien'],
    ["O'Brien", 'O\uA78Bbrien'],
    ['agent?', 'agent\u0294'],
    ['agent?', 'agent\u02A1'],
    ['agent?', 'agent\u0295'],
    ["o'brien", 'o\u0315brien'],
    ["o'brien", 'o\u0313brien'],
    ["o'brien", 'o\u0326brien'],
    ['agent?', 'agent\u0296'],
    // A plus tag reaches the same mailbox (a probe approved its own grant with one).
    ['agent.sam@corp.example', 'agent.sam+approve@corp.example'],
    ['agent.sam@corp.example', 'agent.sam\uFF0Bx@corp.example'],
    ['agent|a', 'agent\uA7FEa'],
    ['agent_sam', 'agent \u0332sam'],
    ['agent-a', 'agent \u0336a'],
    ['agent.sam', 'agent \u0323sam'],
    ['agent/a', 'agent \u0338a'],
    ['agent-a', 'agent-\u0301a'],
    ['sam', '@sam'],
    ['agent-a', 'agent@a'],
    ['jane@corp.example', 'jane@@corp.example'],
    ['jane@corp.example', 'jane@corp.example@'],
    // The safe side: two people at two domains whose letters are one run are refused as one.
    ['ab@c.example', 'a@bc.example'],
    // Circled, superscript and subscript letters are their letters (a regression probe approved `ⓐgent-a` beside
    // `agent-a` once every symbol was taken for a separator).
    ['agent-a', '\u24D0gent-a'],
    ['agent-a', 'agent-\u1D43'],
    ['agent-a', '\u1D2Cgent-a'],
    ['agent-a', 'agent-\u2090'],
    ['agent-a', '\u{1F130}gent-a'],
    ['agent-a', 'agent-\u{1F150}'],
    ['agent-a', 'agent-\u{1F170}'],
    ['agent-z', 'agent-\u{1F1FF}'],
    // Letters of one script in both cases (a regression probe: the Coptic letter U+2CBA was taken for a dash).
    ['\u2CBAgent', '\u2CBBgent'],
    ['kelvin', '\u212Aelvin'],
    ['οδυσσευς', 'ΟΔΥΣΣΕΥΣ'],
    ['office', 'oﬃce'],
  ])('%s and %s are one person', (a, b) => {
    expect(isSamePerson(a, b)).toBe(true);
  });

  it.each([
    ['agent-a', 'agent-b'],
    ['agent-a', 'agent-aa'],
    ['agent-sam', 'agent\u2CBBsam'],
    ['user.1', 'user\u0661'],
    ['agent-\u1D43', 'agent-\u1D47'],
    ['\u24B6lice', '\u24B7lice'],
    ['\u{1F150}lice', '\u{1F151}lice'],
    ['k\u02B0a', 'k\u02B2a'],
    ['agent-1', 'agent-l'],
    // Marks that are letters' own (Indic vowel signs, kana voicing) are kept (a regression probe).
    ['राम', 'रम'],
    ['सीता', 'सोता'],
    ['かとう', 'がとう'],
    ['hà.nguyen', 'hạ.nguyen'],
    ['андреи', 'андрей'],
    ['rené', 'rene'],
    ['m.zak', 'm.żak'],
    ['jonas.ele', 'jonas.ėlė'],
  ])('%s and %s are two people', (a, b) => {
    expect(isSamePerson(a, b)).toBe(false);
  });
});
