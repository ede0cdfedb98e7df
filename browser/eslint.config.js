// ESLint's recommended rules for the extension's plain ES modules; tsc --checkJs does the types.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["node_modules/"] },
  js.configs.recommended,
  {
    files: ["src/**/*.js", "popup/**/*.js"],
    languageOptions: { globals: { ...globals.browser, ...globals.serviceworker, chrome: "readonly" } },
  },
  {
    files: ["test/**/*.js", "test-support/**/*.js", "eslint.config.js"],
    languageOptions: { globals: globals.node },
  },
];
