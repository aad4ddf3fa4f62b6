/** The text of an option: any string but one holding NUL, which no argv or environment string can carry. */
import { Schema } from "effect"

const noNul = Schema.makeFilter((s: string) => !s.includes("\u0000") || "must not contain NUL characters")

/** Text without NUL. */
export const Text = Schema.String.check(noNul)

/** Non-empty text without NUL. */
export const NonEmptyText = Schema.String.check(Schema.isNonEmpty(), noNul)
