import { defineConfig } from 'vitest/config';

// One vitest run for the whole repo: unit tests (no network) and integration tests (real services on
// loopback, brought up by test/services/up.sh before vitest starts).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'packages/*/test/unit/**/*.test.ts',
            'test/unit/**/*.test.ts',
            'templates/*/test/**/*.test.ts',
            'pipelines/*/test/**/*.test.ts',
          ],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: [
            'packages/*/test/integration/**/*.test.ts',
            'test/integration/**/*.test.ts',
            'examples/*/test/**/*.test.ts',
          ],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          // Packs every @ferry package and installs it in a project outside the repository (better-sqlite3
          // compiles from source there): minutes, not seconds. `npm run test:packed` runs it alone.
          name: 'packed',
          include: ['test/packed/**/*.test.ts'],
          environment: 'node',
          testTimeout: 5 * 60_000,
          hookTimeout: 15 * 60_000,
        },
      },
    ],
  },
});
