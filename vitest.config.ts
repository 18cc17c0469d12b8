import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // Node resolves `graphql` to its CommonJS build (the package has no "exports"), and so do
    // @apollo/subgraph and graphql-middleware. Vite would pick index.mjs, giving two graphql
    // realms in one process; pin the same file Node uses.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    globalSetup: ['test/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // The first run on a machine builds FerretDB (about 2 minutes on 2 cores).
    hookTimeout: 180_000,
    // Tests open real MongoDB and Redis connections; separate processes keep a
    // leaked socket or a hung client from outliving its file.
    pool: 'forks',
  },
});
