import { defineConfig } from "vitest/config"
import { faultCatalogue } from "./test/faults/catalogueReporter.ts"

// `npm run coverage` is `vitest run --mode coverage`.
export default defineConfig(({ mode }) => {
  const coverage = mode === "coverage"
  return {
    // The package's own source condition (package.json "exports"), for imports of "effect-claude-code" in the
    // examples: Vitest runs them in its SSR environment, whose conditions are its own.
    resolve: { conditions: ["effect-claude-code-source"] },
    ssr: { resolve: { conditions: ["effect-claude-code-source"], externalConditions: ["effect-claude-code-source"] } },
    // A run of the whole suite fails when a row of docs/FAILURES.md has no test that passed (skipped ones
    // cover nothing), whichever reporters the command line chose.
    plugins: [faultCatalogue()],
    test: {
      include: ["test/**/*.test.ts", "examples/**/*.test.ts"],
      // Real CLI processes share 2 cores; keep the worker count low and every wait bounded.
      maxWorkers: 2,
      testTimeout: 60_000,
      hookTimeout: 60_000,
      // The coverage run loads the modules as the children do, with Node's own type stripping, not Vite's
      // transform: V8 then reports both on the same code, and a file that ran in the tests and in a child
      // (StreamHandler.ts in the `decode` command, fakeFrames.mjs in the fake CLI) merges into one count.
      // Under Vite's transform the two mapped to slightly different locations, and the report counted
      // each statement and branch twice, once covered and once not.
      ...(coverage
        ? { execArgv: ["--conditions=effect-claude-code-source"], experimental: { viteModuleRunner: false } }
        : {}),
      coverage: {
        enabled: coverage,
        provider: "v8",
        include: ["src/**/*.ts", "src/**/*.mjs"],
        exclude: ["src/**/*.d.mts"],
        // Much of src/ runs in child processes: the `decode` command (bin/effect-claude-code.js ->
        // src/cli.ts) and the fake CLI (src/testing/fake-cli.mjs, fakeFrames.mjs). Vitest sets
        // NODE_V8_COVERAGE in each worker; every child that inherits it writes its V8 coverage there, and the
        // report merges it. ProcessManager gives the CLI an allow-listed environment, so
        // FakeCli.environment passes the variable on.
        autoAttachSubprocess: true,
        reporter: ["text", "json-summary", "json"],
        reportsDirectory: "coverage",
        // A failing test still shows what the run covered.
        reportOnFailure: true,
        // Issue 10's floor for src/ as a whole, src/testing/ included (the fakes are shipped code too).
        thresholds: { lines: 90, branches: 85 }
      }
    }
  }
})
