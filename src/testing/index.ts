/**
 * Test doubles for code built on effect-claude-code: `FakeApi`, a loopback
 * Messages API the real CLI runs against offline, and `FakeCli`, a scripted
 * stand-in for the CLI that misbehaves on demand, and `FakeSpawner`, an
 * in-process fake CLI whose every delay runs on the Effect Clock (`TestClock`),
 * `Leftovers`, to prove a test left no process behind, and `Postgres`, a
 * throwaway PostgreSQL server on loopback.
 *
 * @since 0.1.0
 */
export * as FakeApi from "./FakeApi.ts"
export * as FakeCli from "./FakeCli.ts"
export * as FakeSpawner from "./FakeSpawner.ts"
export * as Leftovers from "./Leftovers.ts"
export * as Postgres from "./Postgres.ts"
