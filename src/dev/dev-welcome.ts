import type { DevEnvironment } from './dev-environment.js';
import { DEMO_ROLES, mintToken } from './dev-keys.js';

/** What a developer needs after `npm start`: where it serves, tokens for each demo role, and queries to paste. */
export async function printDevWelcome(input: { port: number; dev: DevEnvironment; demoCustomerId: string | null }): Promise<void> {
  const url = `http://localhost:${input.port}/graphql`;
  const lines: string[] = ['', `Veil subgraph serving at ${url}`, `  health: http://localhost:${input.port}/health/ready   metrics: http://localhost:${input.port}/metrics`];
  const services = input.dev.services;
  if (services) lines.push(`  dev services: MongoDB-compatible (${services.mongoKind}) ${services.mongoUrl}, Redis ${services.redisUrl}`);
  if (input.dev.devKeys) {
    lines.push('', 'Demo tokens (dev signing key, valid 12 h; the server trusts this key in development only):');
    for (const role of DEMO_ROLES) {
      // For the issuer and audience the server checks: with AUTH_ISSUER/AUTH_AUDIENCE set, tokens minted for the dev
      // ones were refused (a probe).
      const { authIssuer: issuer, authAudience: audience } = input.dev.config;
      const token = await mintToken(input.dev.devKeys, { sub: role.sub, scopes: role.scopes, ttlSeconds: 12 * 3600, issuer, audience });
      lines.push(`  ${role.name} (${role.sub}: ${role.scopes.join(' ')}) — ${role.what}`, `    ${token}`);
    }
  } else {
    lines.push('', 'AUTH_JWKS_URL/AUTH_JWKS_FILE is set: use tokens from your identity provider.');
  }
  // No identifier is printed: this banner usually ends up in a log file, and raw identifiers never go to logs.
  // The README ("Getting a token") has the resolveCustomer example with the demo customer's email.
  lines.push('', 'To resolve the demo customer by email (resolveCustomer), see the README, "Getting a token".');
  if (input.demoCustomerId) {
    // Without dev keys no token is printed above: the token is one of the caller's identity provider (a probe).
    // Said what it does: under the resolveCustomer line, it was read as that example (a probe).
    lines.push('To read the demo customer by id (as the agent, masked):', input.dev.devKeys ? '  TOKEN=<agent token above>' : '  TOKEN=<a token from your identity provider with customer:read>');
    const customerBody = JSON.stringify({ query: `{ customer(id: "${input.demoCustomerId}") { id status displayName email phone country createdAt } }` });
    lines.push(`  curl -s ${url} -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\`, `    -d '${customerBody}'`);
  }
  lines.push('', `Stop with Ctrl-C (the dev services stop too; data stays in ${input.dev.config.dataDir}).`, '');
  console.log(lines.join('\n'));
}
