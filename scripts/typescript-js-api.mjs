/**
 * TypeScript 7, the project's compiler, has no JavaScript API yet; typescript-eslint's parser and typedoc need
 * one. Loaded into those tools' processes only (imported first by eslint.config.mjs, `node --import` for typedoc),
 * this makes `typescript` resolve to the `typescript-js-api` devDependency there: TypeScript 6, the last release
 * with that API and the language TypeScript 7 compiles. `tsc` and every other process keep TypeScript 7.
 */
import { registerHooks } from "node:module"

registerHooks({
  resolve(specifier, context, nextResolve) {
    return specifier === "typescript" || specifier.startsWith("typescript/")
      ? nextResolve(`typescript-js-api${specifier.slice("typescript".length)}`, context)
      : nextResolve(specifier, context)
  }
})
