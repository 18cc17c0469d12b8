import { defineConfig } from 'vitest/config';

export default defineConfig({
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
