// `npm run lint:eslint`, half of `npm run lint` (the other half is the Effect language service's diagnostics). The
// rules and the dprint settings are the Effect repository's (its eslint.config.mjs), less the plugins whose rules
// tsc already checks here (import/*) or that only an Effect monorepo needs (codegen, barrel imports, key sorting).
import "./scripts/typescript-js-api.mjs"
import globals from "globals"

// Imported after the line above, so that typescript-eslint finds a TypeScript with a JavaScript API.
const { default: js } = await import("@eslint/js")
const { default: tseslint } = await import("typescript-eslint")
const effect = await import("@effect/eslint-plugin")

export default tseslint.config(
  {
    ignores: ["**/dist/**", "**/coverage/**", "**/node_modules/**", "docs/api/**", "bench/results/**", ".examples/**"]
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...effect.configs.dprint,
  {
    languageOptions: {
      ecmaVersion: "latest",
      sourceType: "module",
      globals: globals.node
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      "no-fallthrough": "off",
      "no-irregular-whitespace": "off",
      "object-shorthand": "error",
      "prefer-destructuring": "off",
      "sort-imports": "off",
      "no-restricted-syntax": ["error", {
        selector: "CallExpression[callee.property.name='push'] > SpreadElement.arguments",
        message: "Do not use spread arguments in Array.push"
      }],
      "no-unused-vars": "off",
      "require-yield": "off",
      "prefer-rest-params": "off",
      "prefer-spread": "off",
      "@typescript-eslint/array-type": ["warn", { default: "generic", readonly: "generic" }],
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-empty-object-type": "off",
      "@typescript-eslint/no-unsafe-function-type": "off",
      "@typescript-eslint/no-wrapper-object-types": "off",
      "@typescript-eslint/consistent-type-imports": "warn",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/ban-ts-comment": "off",
      "@typescript-eslint/no-array-constructor": "off",
      "@typescript-eslint/no-use-before-define": "off",
      "@typescript-eslint/no-namespace": "off",
      // The project's rule is stricter than the Effect repository's: no `any` (see the code rules).
      "@typescript-eslint/no-explicit-any": "error",
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 120,
          semiColons: "asi",
          quoteStyle: "alwaysDouble",
          trailingCommas: "never",
          operatorPosition: "maintain",
          "arrowFunction.useParentheses": "force"
        }
      }]
    }
  },
  {
    // A library writes through Effect's Console or the streams it is given, never to the console directly.
    files: ["src/**/*.ts"],
    rules: { "no-console": "error" }
  }
)
