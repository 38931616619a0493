import { defineConfig } from 'vitest/config'

// One test run for the whole workspace. Integration tests start real servers (PostgreSQL, nginx),
// so files run in parallel across forks but each file's tests run in order.
export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
})
