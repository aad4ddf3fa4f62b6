import { defineConfig } from "vitest/config"
import { faultCatalogue } from "./test/faults/catalogueReporter.ts"

export default defineConfig({
  resolve: { conditions: ["effect-claude-code-source"] },
  // A run of the whole suite fails when a row of docs/FAILURES.md has no test that passed (skipped ones
  // cover nothing), whichever reporters the command line chose.
  plugins: [faultCatalogue()],
  test: {
    include: ["test/**/*.test.ts", "examples/**/*.test.ts"],
    // Real CLI processes share 2 cores; keep the worker count low and every wait bounded.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
