/**
 * The shape check of request ids and operation names for identifier digests that cannot be looked up (written without
 * their `-` and `_`, with `.` for them, or in one case): how many random digests it misses, and what it keeps.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { mayHoldBareDigest } from '../../src/customers/customer-service.js';

const SAMPLES = 4_000;

function missRate(form: (digest: string) => string): number {
  let missed = 0;
  for (let i = 0; i < SAMPLES; i++) if (!mayHoldBareDigest(form(randomBytes(32).toString('base64url')))) missed += 1;
  return missed / SAMPLES;
}

describe('mayHoldBareDigest', () => {
  // Measured at 20,000 samples: 0.6% (mixed case, without separators or with `.` for them), 1.2% (one case). A window of
  // 40 missed 4.7% (a digest with four separators or more), and a check of case changes alone 90% in one case (probes).
  it('takes nearly every random digest for one, whatever became of its separators and case', () => {
    expect(missRate((d) => d.replace(/[-_]/g, ''))).toBeLessThan(0.02);
    expect(missRate((d) => d.replace(/[-_]/g, '.'))).toBeLessThan(0.02);
    expect(missRate((d) => `Q_${d.replace(/-/g, '_')}`)).toBeLessThan(0.02);
    expect(missRate((d) => d.replace(/[-_]/g, '').toLowerCase())).toBeLessThan(0.03);
    expect(missRate((d) => d.replace(/[-_]/g, '').toUpperCase())).toBeLessThan(0.03);
  });

  it('keeps UUIDs, traceparents, hex ids, ULIDs and operation names in camel or snake case', () => {
    const kept = [
      '123e4567-e89b-12d3-a456-426614174000',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      randomBytes(32).toString('hex'),
      randomBytes(20).toString('hex').toUpperCase(),
      'req_01HXYZ8K2M3N4P5Q6R7S8T9V0W',
      'GetCustomerConsentHistoryAndContextSnapshotForAgentConsoleV2',
      'UseGetCustomerByIdQueryForTheAgentDesktopV3Beta2',
      'GetUserV2ByIdAndOrgV3ByIdAndTeamV4ByIdAndRoleV5',
      'getcustomerconsenthistoryforagentconsolev2',
      'CUSTOMER_CARD_QUERY_FOR_AGENT_DESKTOP_VERSION_2',
    ];
    expect(kept.filter(mayHoldBareDigest)).toEqual([]);
  });
});
