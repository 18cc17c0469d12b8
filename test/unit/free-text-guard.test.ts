import { describe, expect, it } from 'vitest';
import { assertFreeText, containsIdentifier, isPhoneUri, isSafeReference } from '../../src/identity/free-text-guard.js';

describe('free text that carries an identifier', () => {
  it.each([
    'Reply to zelda.probe@example.org',
    'Reply to zelda.probe&#64;example.org',
    'Reply to zelda.probe&#x40;example.org',
    'Reply to zelda.probe&commat;example&period;org',
    'Reply to zelda.probe at example dot org',
    'zelda.probek3 AT example DOT org',
    'write to zelda at example.org please',
    'z e l d a @ e x a m p l e . o r g',
    'zelda @ example . org',
    'reply to zed (at) example [dot] org',
    'call back 07700_900_123',
    // Found by a probe: the same forms with other delimiters, and two forms combined.
    'zelda<at>example<dot>org',
    'zelda -at- example -dot- org',
    'zelda "at" example "dot" org',
    'zelda_at_example_dot_org',
    'zelda at-sign example.org',
    'z e l d a @ e x a m p l e dot o r g',
    'z e l d a at e x a m p l e dot o r g',
    'Reply to zelda at example.org. Thanks',
    // Found by a third probe.
    'Zelda At Gmail Dot Com',
    'zelda @ example . Org',
    'zelda@example\u3002org',
    'zelda@example\uff61org',
    'zelda @example.org',
    'zelda@ example.org',
    'z e l d a @ example . org',
    'zelda%2540example.org',
    'zelda\\u0040example.org',
    'zelda\\x40example.org',
    'Order placed 2024-11-30, call back on 07700 900123',
    'Call +44 20 7946 0958 at 10:30',
    // Quoted-printable, as in a mail body pasted into a subject (a probe stored it).
    'Customer wrote from jane=40example.com today',
    'Ref zelda=40example=2Eorg',
    // Invisible letters between the digits (default-ignorable, but not format characters): a probe stored them.
    'Call back on +44\u31647700\u3164900\u3164123 today',
    'Call back on +44\uFFA07700\uFFA0900\uFFA0123 today',
    'Call back on +44\u115F7700\u1160900 123 today',
    'Caller confirmed 07700\u3164900\u3164123',
    // Letters that look like a dash between digits (a probe): the katakana prolonged sound mark, tatweel, a modifier colon.
    '\u9867\u5ba2 +81 80\u30fc9876\u30fc5432 \u304b\u3089\u96fb\u8a71',
    'Call +44\u06407700\u0640900\u0640123',
    'Call 44\u02d07700\u02d0900\u02d0123',
    // Grouped in threes as French or Swiss numbers are, but no amount: no decimals, no currency.
    'Rappeler le +33 612 345 678 demain',
    'Call +1 415 555 2671 about the 1,250.00 refund',
    'Kunde unter 079 123 45 67 erreichbar',
    '\u0627\u062a\u0635\u0644 \u0639\u0644\u0649 \u0660\u0667\u0667\u0660\u0660\u0669\u0660\u0660\u0661\u0662\u0663',
    // Past the amount and address exemptions of the false-refusal sweep's fixes (a regression probe).
    'CALL FAILED, TRY 06.12.34.56.78',
    '\u20ac 06.12.34.56.78',
    'Tel 06.12.34.56.78 EUR',
    'Refund USD 447700900123.45',
    'user at example.org',
    'me at janedoe.com',
    'Reply sent to customer at jane.smith.name',
    '447700900-1234-4abc-8def-123456789012 call',
  ])('finds one in %j', (text) => {
    expect(containsIdentifier(text)).toBe(true);
  });

  it.each([
    // `=40` that is no quoted-printable address (refused for a while; a probe).
    'See https://shop.example/list?zoom=40&file=report.pdf',
    'Firmware build=40.1.2 installed',
    'Screenshot https://cdn.example/img?w=40.5&h=30.2',
    'opacity=40.5.1',
    'Query param ?discount=40&code=SUMMER.sale',
    'ratio 1234=3A567',
    'Called at 10.30 about the outage',
    'Meeting @ 10.30 with the team',
    'Price @ 5.99 each',
    'Logged in at home, dot matrix printer broken',
    // Ordinary support text a probe saw refused by the first version of the word forms.
    'Customer called at 10.30. Refund issued',
    'Customer is at work. Will call back tomorrow',
    'Delivered at home. Signed by neighbour',
    'Parcel stuck at depot. Customer upset',
    'Priced at 9.99. Customer accepted',
    'Left voicemail at 9. Will retry',
    'App version 3.12.4 at login. Crash reported',
    'Customer angry at billing.Refund approved',
    'Looked at the dot com page with the customer',
    'Meeting @ 10.30 with billing team. Then call back',
    'Customer tweeted @ us. Escalated to social team',
    'Reply to @support. Thanks',
    'Order stuck at checkout. Card declined',
    'Polka-dot dress returned at store. Refunded',
    // Dates, times and amounts have seven or more digits too.
    'Order placed 2024-11-30',
    'Delivery 30.11.2024 confirmed',
    'Date 2024.11.30 confirmed',
    'Account opened 30/11/2024 at branch.London',
    'Store hours 09:00-17:30 Mon-Sat',
    'Callback window 10:00 - 12:00',
    'Refund 1,250.00 - 250.00 fee',
    'Invoice 2024-11-30 total 1,234.56 EUR',
    'Betrag 1.234,56 EUR am 30.11.2024 erstattet',
    'Seen 2024-11-30T09:15 and 2024-12-01T10:20',
    'Looked at example invoices',
    'Customer looked at the invoice. Then called back',
    'Ticket 1234 escalated at 09:15',
    'Logged 10:30:00 and 11:45:10 today',
    // Ordinary support text a false-refusal sweep found refused: ids (a UUID, a commit), "at" and a site, amounts in
    // three-decimal currencies, codes missing from a hard-coded list, ungrouped with decimals, versions after an at sign.
    'Payment f58ded3c-3799-4701-9e6c-49769425a9c6 failed',
    'Fixed in 9e1c2b7a4f0d3e6c5b8a7f1234567890abcdef12',
    'Customer logged in at app.example.com and cannot see invoices',
    'Item purchased at Amazon.de, wants refund from us',
    'Signed up at shop.example.co.uk last week',
    'Error at checkout.stripe.com after 3DS',
    'double opt-in at newsletter.example.com',
    'Refund KWD 1,234.567 approved',
    'Refund 1.234,567 KWD',
    'Paid 1234.567 BHD',
    'CLP 1.234.567 charged',
    'Charged USD 12345.67 twice',
    'Refund 1234567.89 EUR',
    'Upgraded to react@18.3.1 and openssl@3.0',
    // Refused by a version that looked before an amount, or dropped more words than mailbox names (regression probes).
    'Order #12345 99.00 USD',
    'Price range 100.00-200.00 USD',
    'Placed an order at amazon.com',
    'Contact us at support.example.com',
    'The app at app.example.com crashed',
    'Ref ID123e4567-e89b-12d3-a456-426614174000',
    // Times with more pairs after them (refused for a while, when a clock time followed by another pair was taken
    // for part of a number; a regression probe): timecodes, uptimes, milliseconds, a MAC address.
    'Video glitch at timecode 01:23:45:12',
    'Router uptime 3:12:45:10',
    'Crash at 10:00:00:000',
    'Device MAC 00:11:22:33:44:55',
    'Refund of 12.50 EUR at the branch',
    // Dates and amounts as other locales and scripts write them (a probe found these refused).
    '\uace0\uac1d \ud658\ubd88 \u20a91,250,000 \ucc98\ub9ac \uc644\ub8cc',
    'Remboursement de 1 250 000,50 \u20ac',
    'Preis CHF 1\'250\'000.50 am 30.11.2024',
    'Refund \u20b912,50,000.00 approved',
    '\u0637\u0644\u0628 \u0627\u0633\u062a\u0631\u062f\u0627\u062f \u0661\u066c\u0662\u0665\u0660\u066b\u0660\u0660 \u0628\u062a\u0627\u0631\u064a\u062e \u0662\u0660\u0662\u0664/\u0661\u0661/\u0663\u0660',
    '\u0e04\u0e37\u0e19\u0e40\u0e07\u0e34\u0e19\u0e27\u0e31\u0e19\u0e17\u0e35\u0e48 30/11/2567',
    'Refund on \u06f1\u06f4\u06f0\u06f3/\u06f9/\u06f1\u06f0',
    'Korean amount 1,250,000\uc6d0',
    'Refund on 1 250 000 \u20a9',
  ])('finds none in %j', (text) => {
    expect(containsIdentifier(text)).toBe(false);
  });
});

describe('assertFreeText', () => {
  it.each(['\u202eDSR-1', 'Asked \u2066by\u2069 letter', 'bell\u0007'])('refuses control and bidirectional override characters in %j', (text) => {
    expect(() => assertFreeText(text, 'reason', 500)).toThrow(/control characters/);
  });

  it('keeps right-to-left text and its marks', () => {
    expect(assertFreeText('طلب العميل الحذف \u200f', 'reason', 500)).toBe('طلب العميل الحذف \u200f');
  });
});

describe('correlation ids (x-request-id, interactionId, an erasure requestId)', () => {
  it.each([
    '123e4567-e89b-12d3-a456-426614174000',
    '4bf92f3577b34da6a3ce929d0e0e4736',
    '00f067aa0ba902b7',
    'DSR-2041',
    // Digits that touch letters belong to the id: a hash or a call SID with a long digit run (one 64-character hex
    // hash in six has a run of ten), a device token.
    '9e1c2b7a4f0d3e6c5b8a7f1234567890abcdef1234567890aa1b2c3d4e5f6a7b',
    'CA8f3e2d1c4477009001234567ab9c8d7e',
    'fp_1234567abcde',
    // A UUID inside a longer id: its all-digit groups (`0640-4472`) are not a number.
    'call-3fd6b9b2-0640-4472-933e-5f1181b9111f',
    'urn:uuid:eeaf1607-be60-4473-8930-ce14c3a143ac',
    '74e48a22-4ffd-4214-9953-ac912d9e082e:1',
    '3fd6b9b2-0640-4472-933e-5f1181b9111f:74e48a22-4ffd-4214-9953-ac912d9e082e',
    '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    // `=` followed by hex that is no address or number in quoted-printable (refused for a while: `=AA` read as `ª`).
    'case=AA1234567',
    'sig=BA98765432',
    'rid=C012345678',
    // Erasure request and interaction ids numbered by date (a false-refusal sweep found them refused).
    'DSR-2024-0042',
    'RTBF-20241130-0042',
    'GDPR/2024/11/0042',
    'chat_20241130_143022_b4a6',
    // A whole date after the letters (a regression probe found these refused once the year alone was taken).
    'DSR-2024-11-30-0042',
    'call-2024-11-30-143022',
    'batch.2024.11.30.001',
    'chat_2024-11-30_143022',
    'DSR_2024_11_30',
    'export_2024_11_30_42',
    // A compact time after a compact date, and a year namespaced by colons (refused until a regression probe).
    'req-20250115-143022-0042',
    'evt-20250115T143022-7',
    'erasure:2025:0042:final',
  ])('takes %j', (id) => {
    expect(isSafeReference(id)).toBe(true);
  });

  it.each([
    '0044770090073600',
    '4477009007364477',
    '+447700900736',
    'wa:447700900555',
    'ivr-447700900736',
    '44-7700-900736',
    // What follows a date or a year is read on its own.
    'ref-20241130-1234567',
    'erasure:2025:447700900123',
    'DSR-201101012359',
    // A time of hours and minutes is no part of the date: the number goes on after it.
    'x-20241130_1430_447700',
    'call_00447700900736',
    // Escaped: the digits would touch the letter of an escape.
    'tel%3A%2B447700900555',
    'caller%3D447700900555',
    'jane%40example.com',
    'tel%253A%252B447700900555',
    'jane&#x40;example.com',
    'tel:&#43;447700900555',
    // Backslash escapes as in JSON or source code, and quoted-printable (a probe stored the first three).
    'victim.one\\u0040example.com',
    'victim.two\\x40example.com',
    '\\u002b\\u0034\\u0034\\u0037\\u0037\\u0030\\u0030\\u0039\\u0030\\u0030\\u0039\\u0039\\u0039',
    'victim\\u{40}example.com',
    'victim.four=40example.com',
    'tel=3A=2B447700900555',
    'jane=40example=2Ecom',
    'caller=2B44=2D7700=2D900123',
    'caller=2B44=5F7700=5F900123',
    // A year or a compact date after the reference's letters is read as the reference's, not what follows it.
    'DSR-2044-7700900',
    'DSR-204412314567',
    // A channel's name run into the number (a probe stored the first as a device fingerprint).
    'whatsapp447700900555',
    'phone447700900555',
    'tel+447700900555',
    'fp-SMS07700900555',
  ])(
    'refuses a phone number standing apart in an id: %j',
    (id) => {
      expect(isSafeReference(id)).toBe(false);
    },
  );
});

describe('support record ids', () => {
  it.each([
    'tel:447700900123',
    'whatsapp:447700900125',
    'smsto:447700900123',
    'TEL:44-7700-900123',
    'x:sip:07700900123',
    'callto:447700900123',
    // Past the first version (a regression probe): separators doubled or colons, other schemes.
    'tel:44--7700900123',
    'tel:44..7700..900..123',
    'tel:44:7700:900123',
    'tel::447700900123',
    'mobile:447700900123',
    'msisdn:447700900123',
    'tg:447700900123',
    'telprompt:447700900123',
    'facetime-audio:447700900123',
    'zoomphonecall:447700900123',
  ])(
    "refuses %j, a phone number's URI",
    (id) => {
      expect(isPhoneUri(id)).toBe(true);
    },
  );

  // A channel's name as an ordinary prefix is no scheme: the first version of the rule refused these (a regression probe).
  it.each([
    '1234567',
    '447700900123',
    'ORD-2024-10045',
    'INV.2023.0456',
    'zd:123456789',
    'call-2024-0001',
    'T-1',
    'hotel:1234567',
    'WA-2024-1130-0042',
    'TEL-2024-000123',
    'MOB-2024-0001234',
    'sms-20241130-000123',
    'SMS20241130000123',
    'phone-20241130T143000Z',
    'wa:42',
    'created_at_1700000000.123',
    'meeting_at_10.30',
    '3fd6b9b2-0640-4472-933e-5f1181b9111f',
  ])('takes %j, a reference', (id) => {
    expect(isPhoneUri(id)).toBe(false);
  });
});

// A probe found a pattern that split a run of underscores in exponentially many ways (26 in an x-request-id, checked
// before the token, blocked the process for 5 s; 64, which the header allows, would never have finished), and two
// that scanned a long word again from each of its characters. Not a performance target: with the patterns as they
// are, all of this takes a few milliseconds; with the old ones it took well over ten seconds.
describe('the cost of checking hostile text', () => {
  const shapes: Array<[string, string]> = [
    ['underscores', '_'.repeat(24)],
    ['underscores then a letter', `${'_'.repeat(24)}x`],
    ['separators without at', '-_. ('.repeat(5)],
    ['a long word', 'a'.repeat(20_000)],
    ['dots', `${'.'.repeat(20_000)}a`],
    ['labels', 'a.'.repeat(10_000)],
    ['escapes', '\\u00'.repeat(5_000)],
    ['spaced underscores', '_ '.repeat(1_000)],
    ['a long run of spaces', `${' '.repeat(20_000)}x`],
    ['spaces before a spelled at sign', `${'\t'.repeat(20_000)}at`],
    ['spaces before a dot', `${' '.repeat(20_000)}.x`],
  ];
  it('stays linear in the text for every check', () => {
    const started = performance.now();
    for (const [, text] of shapes) {
      containsIdentifier(text);
      isSafeReference(text);
      try {
        assertFreeText(text, 'text', 100_000);
      } catch {
        // Refused or not, what is measured is the time to decide.
      }
    }
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('still reads punctuation runs around at and dot as an address', () => {
    expect(containsIdentifier('zelda __(at)__ example ._dot_. org')).toBe(true);
    expect(containsIdentifier('zelda_-at-_example_-dot-_org')).toBe(true);
    expect(containsIdentifier('look at __ the dot __ matrix')).toBe(false);
  });
});
