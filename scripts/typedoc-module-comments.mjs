/**
 * A TypeDoc plugin for the Effect convention of module comments: a file's first doc comment, above its imports
 * and carrying `@since`, documents the module (`@effect/docgen` reads it so). TypeDoc takes a file comment only
 * with a `@module` tag; this gives each entry point and each `export * as Name from "./Name.ts"` namespace the
 * first doc comment of its file instead, when that comment stands before the file's first import or export. It
 * also names the entry points as users import them (`effect-claude-code`, `effect-claude-code/testing`), not
 * after their files (`index`, `testing`).
 */
import * as path from "node:path"
import { Converter, ReflectionKind } from "typedoc"
import ts from "typescript"

/** `src/index.ts` is the package, `src/testing/index.ts` its `./testing` export. */
const importPath = (packageName, file) => {
  const dir = path.relative("src", path.dirname(path.relative(process.cwd(), file.fileName)))
  return dir === "" ? packageName : `${packageName}/${dir.split(path.sep).join("/")}`
}

/** The file a module or `export * as` namespace reflection stands for, if there is one. */
const sourceFileOf = (context, reflection) => {
  const symbol = context.getSymbolFromReflection(reflection)
  if (symbol === undefined) return undefined
  const target = symbol.flags & ts.SymbolFlags.Alias ? context.checker.getAliasedSymbol(symbol) : symbol
  return target.declarations?.find(ts.isSourceFile)
}

/** The comment above the first import or export of the file: its module comment in the Effect convention. */
const moduleComment = (context, file) => {
  const first = file.statements[0]
  if (first === undefined || !(ts.isImportDeclaration(first) || ts.isExportDeclaration(first))) return undefined
  return context.getNodeComment(first, false)
}

/** @param {import("typedoc").Application} app */
export const load = (app) => {
  app.converter.on(Converter.EVENT_CREATE_DECLARATION, (context, reflection) => {
    if (!reflection.kindOf(ReflectionKind.Module | ReflectionKind.Namespace)) return
    const file = sourceFileOf(context, reflection)
    const comment = file === undefined ? undefined : moduleComment(context, file)
    if (comment !== undefined) reflection.comment = comment
    if (file !== undefined && reflection.kindOf(ReflectionKind.Module) && path.basename(file.fileName) === "index.ts") {
      reflection.name = importPath(app.options.getValue("name"), file)
    }
  })
}
