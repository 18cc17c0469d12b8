/**
 * The `npm start` banner usually ends up in a log file: it prints tokens and
 * ready-to-paste requests, and never a raw identifier of the demo customer.
 */
import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEMO_CUSTOMER } from '../../src/dev/demo-seed.js';
import type { DevEnvironment } from '../../src/dev/dev-environment.js';
import { generateDevKeys } from '../../src/dev/dev-keys.js';
import { printDevWelcome } from '../../src/dev/dev-welcome.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the npm start banner', () => {
  it('prints the demo tokens and a request by customer id, and no raw identifier in any letter case', async () => {
    const printed: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void printed.push(args.join(' ')));
    const dev = { config: {}, devKeys: await generateDevKeys(), jwks: null, services: null } as unknown as DevEnvironment;
    await printDevWelcome({ port: 4001, dev, demoCustomerId: 'cus_01J00000000000000000000000' });
    const text = printed.join('\n');
    expect(text).toContain('cus_01J00000000000000000000000');
    expect(text).toMatch(/agent \(agent-alex: [^)]+\) — .*\n\s+eyJ/);
    const phoneDigits = DEMO_CUSTOMER.phone.slice(1);
    for (const identifier of [DEMO_CUSTOMER.email, DEMO_CUSTOMER.crmId, phoneDigits, phoneDigits.slice(2)]) {
      expect(text.toLowerCase()).not.toContain(identifier.toLowerCase());
    }
  });

  it('mints the demo tokens for the issuer and audience the server checks', async () => {
    // With AUTH_ISSUER/AUTH_AUDIENCE set in development, the printed tokens named the dev ones and were refused (a probe).
    const printed: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void printed.push(args.join(' ')));
    const dev = { config: { authIssuer: 'https://idp.example/', authAudience: 'veil-api' }, devKeys: await generateDevKeys(), jwks: null, services: null } as unknown as DevEnvironment;
    await printDevWelcome({ port: 4001, dev, demoCustomerId: null });
    const tokens = printed.join('\n').match(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g) ?? [];
    expect(tokens.length).toBeGreaterThan(0);
    for (const token of tokens) expect(decodeJwt(token)).toMatchObject({ iss: 'https://idp.example/', aud: 'veil-api' });
  });

  it('points at the identity provider, not at tokens it did not print, when the key set is configured', async () => {
    const printed: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void printed.push(args.join(' ')));
    const dev = { config: {}, devKeys: null, jwks: null, services: null } as unknown as DevEnvironment;
    await printDevWelcome({ port: 4001, dev, demoCustomerId: 'cus_01J00000000000000000000000' });
    const text = printed.join('\n');
    expect(text).not.toMatch(/eyJ|token above/);
    expect(text).toContain('TOKEN=<a token from your identity provider with customer:read>');
  });
});
