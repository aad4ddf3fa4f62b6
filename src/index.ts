/**
 * @since 0.1.0
 */
export * as Claude from "./Claude.ts"
export * as ClaudeError from "./ClaudeError.ts"
export * as ClaudeEvent from "./ClaudeEvent.ts"
export * as ClaudeOptions from "./ClaudeOptions.ts"
export * as HealthChecker from "./HealthChecker.ts"
export * as Metrics from "./Metrics.ts"
export * as ProcessManager from "./ProcessManager.ts"
export * as Prometheus from "./Prometheus.ts"
export * as Protocol from "./Protocol.ts"
export * as Resilience from "./Resilience.ts"
export * as ResourceLimits from "./ResourceLimits.ts"
export * as Session from "./Session.ts"
export * as SessionPool from "./SessionPool.ts"
export * as StreamHandler from "./StreamHandler.ts"
export * as TokenManager from "./TokenManager.ts"
export * as TurnOutcome from "./TurnOutcome.ts"
