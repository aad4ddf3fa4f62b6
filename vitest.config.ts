import { defineConfig } from "vitest/config"

export default defineConfig({
  resolve: { conditions: ["development"] },
  test: {
    include: ["test/**/*.test.ts", "examples/**/*.test.ts"],
    // Real CLI processes share 2 cores; keep the worker count low and every wait bounded.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
