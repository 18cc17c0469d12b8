/**
 * docs/POLICY.md is generated from the policy table, deterministically, and
 * `npm run policy:check` fails with a clear message when the file is stale.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderPolicyDocs, type PolicyDocsInput } from '../src/policy/policy-docs.js';
import { entityTypesOf } from '../src/policy/entity-reach.js';
import { FIELD_POLICY } from '../src/policy/policy-table.js';
import { listPolicyCoordinates } from '../src/policy/shield-rules.js';
import { buildPolicySchema } from '../src/server.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '..');
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');
const SCRIPT = path.join(ROOT, 'scripts', 'generate-policy-docs.ts');

const input: PolicyDocsInput = {
  table: FIELD_POLICY,
  schemaCoordinates: listPolicyCoordinates(buildPolicySchema('off')),
  entityTypes: entityTypesOf(buildPolicySchema('off')),
  grantTtl: { defaultSeconds: 900, maxSeconds: 3600 },
  maxJustificationLength: 500,
};

/** The lines of one `## ` or `### ` section. */
function section(doc: string, heading: string): string {
  const start = doc.indexOf(`\n${heading}\n`);
  if (start < 0) return '';
  const rest = doc.slice(start + heading.length + 2);
  const end = rest.search(/\n#{2,3} /);
  return end < 0 ? rest : rest.slice(0, end);
}

describe('the generated policy page', () => {
  const doc = renderPolicyDocs(input);
  const matrix = doc.slice(doc.indexOf('\n## Matrix\n'), doc.indexOf('\n## Who sees what\n'));

  it('is the same bytes every time', () => {
    expect(renderPolicyDocs(input)).toBe(doc);
  });

  it('has a matrix row for every checked field and a line for every open field', () => {
    const missing: string[] = [];
    for (const [type, fields] of Object.entries(FIELD_POLICY)) {
      for (const [field, rule] of Object.entries(fields)) {
        if (rule.kind === 'open') {
          const line = section(doc, '## Open fields').split('\n').find((l) => l.startsWith(`| \`${type}\` |`) && l.includes(`\`${field}\``));
          if (!line) missing.push(`${type}.${field} (open)`);
        } else if (!section(matrix, `### ${type}`).includes(`| \`${field}\` |`)) {
          missing.push(`${type}.${field}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('reads as the contract for the personal fields: masks, the grant, two-person approval and the router scopes', () => {
    const email = section(matrix, '### Customer').split('\n').find((l) => l.startsWith('| `email` |')) ?? '';
    expect(email).toContain('`j***@example.com`');
    expect(email).toContain('`ELEVATION_REQUIRED` with `pii:read` alone and no grant');
    expect(email).toContain('two-person: approved by another caller holding `pii:approve`');
    expect(email).toContain('`@requiresScopes(scopes: [["customer:read"], ["pii:read"]])`');
    const masks = section(doc, '## Masks');
    expect(masks).toContain('| `PHONE` | `+447700900123` | `+********0123` |');
    expect(masks).toContain('| `DISPLAY_NAME` | `Jane Doe` | `Jane D.` |');
  });

  it('shows consent gating and the customer consent scope for the support records', () => {
    const tickets = section(matrix, '### ContextSnapshot').split('\n').find((l) => l.startsWith('| `openTickets` |')) ?? '';
    expect(tickets).toContain('`CONSENT_REQUIRED` when the customer\'s effective consent lacks `support_context`');
    const glance = section(doc.slice(doc.indexOf('\n## Who sees what\n')), '### ContextSnapshot').split('\n').find((l) => l.startsWith('| `openTickets` |')) ?? '';
    expect(glance.split(' | ')).toContain('CONSENT_REQUIRED');
  });

  it('reports schema fields the table misses and table entries the schema lacks', () => {
    const stale = renderPolicyDocs({ ...input, schemaCoordinates: [...input.schemaCoordinates.filter((c) => c !== 'Customer.country'), 'Customer.erasedAt'] });
    expect(stale).toContain('- Schema fields the table does not cover: `Customer.erasedAt`');
    expect(stale).toContain('- Table entries with no field in the schema: `Customer.country`');
    expect(doc).toContain('- Schema fields the table does not cover: none.');
  });
});

describe('npm run policy:docs / policy:check', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'veil-policy-docs-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the page, then finds it current', async () => {
    const file = path.join(dir, 'POLICY.md');
    await run(TSX, [SCRIPT, '--file', file], { cwd: ROOT });
    expect(await readFile(file, 'utf8')).toBe(renderPolicyDocs({ ...input }));
    const check = await run(TSX, [SCRIPT, '--check', '--file', file], { cwd: ROOT });
    expect(check.stdout).toContain('is up to date');
  });

  it('exits 1 naming the command to run and the first differing line when the page is stale', async () => {
    const file = path.join(dir, 'STALE.md');
    await writeFile(file, renderPolicyDocs(input).replace('| `email` |', '| `e-mail` |'));
    const failure = await run(TSX, [SCRIPT, '--check', '--file', file], { cwd: ROOT }).then(
      () => null,
      (error: { code?: number; stderr?: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain('is out of date with src/policy/policy-table.ts');
    expect(failure?.stderr).toContain('Run `npm run policy:docs`');
    expect(failure?.stderr).toMatch(/first difference at line \d+:\n {2}expected: \| `email` \|/);
  });

  it('exits 1 when the page is missing', async () => {
    const failure = await run(TSX, [SCRIPT, '--check', '--file', path.join(dir, 'NOPE.md')], { cwd: ROOT }).then(
      () => null,
      (error: { code?: number; stderr?: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain('is missing');
  });
});
