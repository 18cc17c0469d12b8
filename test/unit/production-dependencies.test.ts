/**
 * A production install (`npm ci --omit=dev`, which is also what `npm ci` does
 * under NODE_ENV=production, as `npm start`'s install step runs it) has only
 * `dependencies`. Everything the server needs at run time must be there: each
 * package that src/ imports for its values, and the program `npm start` runs.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/production-runtime.js';

const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Module specifiers a file loads for their values (type-only imports vanish when compiled). */
function valueImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && !node.importClause?.isTypeOnly && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const named = clause?.namedBindings;
      // `import { type A, type B } from 'x'` is erased too.
      const allTypes = clause !== undefined && clause.name === undefined && named !== undefined && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
      if (!allTypes) found.push(node.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(node) && !node.isTypeOnly && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && isLoaderCall(node)) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteral(arg)) found.push(arg.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** `import('x')`, and `require('x')` through any `createRequire` function (named `require...`). */
function isLoaderCall(node: ts.CallExpression): boolean {
  if (node.expression.kind === ts.SyntaxKind.ImportKeyword) return true;
  return ts.isIdentifier(node.expression) && /^require/i.test(node.expression.text);
}

function packageOf(specifier: string): string | null {
  if (specifier.startsWith('.') || specifier.startsWith('node:') || builtinModules.includes(specifier)) return null;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}

describe('what a production install must hold', () => {
  it('lists every package that src/ imports at run time under dependencies', () => {
    const imported = new Map<string, string>();
    for (const file of sourceFiles(path.join(repoRoot, 'src'))) {
      for (const specifier of valueImports(file)) {
        const name = packageOf(specifier);
        if (name !== null && !imported.has(name)) imported.set(name, path.relative(repoRoot, file));
      }
    }
    // The walk must see the server's main libraries, or it proves nothing.
    expect([...imported.keys()]).toEqual(expect.arrayContaining(['@apollo/server', '@apollo/subgraph', 'graphql-shield', 'mongodb', 'ioredis', 'jose']));
    const missing = [...imported].filter(([name]) => pkg.dependencies[name] === undefined).map(([name, file]) => `${name} (imported by ${file})`);
    expect(missing).toEqual([]);
  });

  it('lists the program that `npm start` runs under dependencies', () => {
    // `exec` makes the shell npm runs the script in give way to the program, so npm's SIGTERM reaches it.
    const program = pkg.scripts['start']?.replace(/^exec\s+/, '').split(/\s+/)[0];
    expect(program).toBeDefined();
    if (program !== 'node') expect(pkg.dependencies[program as string], `${program} runs npm start`).toBeDefined();
  });
});
