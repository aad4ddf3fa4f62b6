#!/usr/bin/env node
// Runs the built CLI when there is one (a published package), the TypeScript
// source otherwise (a clone, on Node >= 22.19 with type stripping).
import { existsSync } from "node:fs"

const built = new URL("../dist/cli.js", import.meta.url)
const { main } = await import(existsSync(built) ? built.href : new URL("../src/cli.ts", import.meta.url).href)
const { NodeRuntime } = await import("@effect/platform-node")
NodeRuntime.runMain(main)
