/** Reading the host's frames: JSON lines, and the fields the fake looks at. */
import { Option, Predicate } from "effect"
import type { JsonObject } from "./script.ts"

export const parseJson: (text: string) => Option.Option<unknown> = Option.liftThrowable((text: string): unknown =>
  JSON.parse(text)
)

export const stringField = (object: JsonObject | undefined, key: string): string | undefined => {
  const value = object?.[key]
  return typeof value === "string" ? value : undefined
}

export const objectField = (object: JsonObject | undefined, key: string): JsonObject | undefined => {
  const value = object?.[key]
  return Predicate.isObject(value) ? value : undefined
}
