/**
 * Test doubles for code built on effect-claude-code: `FakeApi`, a loopback
 * Messages API the real CLI runs against offline, and `FakeCli`, a scripted
 * stand-in for the CLI that misbehaves on demand.
 *
 * @since 0.1.0
 */
export * as FakeApi from "./FakeApi.ts"
export * as FakeCli from "./FakeCli.ts"
