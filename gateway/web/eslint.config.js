// ESLint (flat config) for the web UI and its tests. Run from the
// repository root: eslint --config gateway/web/eslint.config.js
// --max-warnings 0 gateway/web tests/web

import js from '@eslint/js';
import globals from 'globals';

/**
 * The type expressions of a JSDoc comment's tags: the text between the
 * braces that follow the type, param, returns (and like) tags.
 * @param {string} comment
 * @returns {{ text: string, offset: number }[]}
 */
function jsdocTypes(comment) {
  /** @type {{ text: string, offset: number }[]} */
  const found = [];
  const tag = /@(?:type|param|returns?|typedef|property|prop|template|satisfies|this|throws|yields|callback)\b\s*\{/g;
  for (let match = tag.exec(comment); match; match = tag.exec(comment)) {
    const start = match.index + match[0].length;
    let depth = 1;
    let end = start;
    while (end < comment.length && depth > 0) {
      if (comment[end] === '{') depth++;
      if (comment[end] === '}') depth--;
      end++;
    }
    found.push({ text: comment.slice(start, end - 1), offset: start });
    tag.lastIndex = end;
  }
  // inline casts: /** @type {T} */ (x) are covered above
  return found;
}

/** Flags `any` and the JSDoc wildcard `*` in JSDoc types: every value is typed. */
const noAnyType = {
  meta: {
    type: 'problem',
    docs: { description: 'disallow any and * in JSDoc types' },
    messages: { any: 'Use a precise type (or unknown) instead of {{what}}.' },
    schema: [],
  },
  /** @param {import('eslint').Rule.RuleContext} context */
  create(context) {
    const source = context.sourceCode;
    return {
      Program() {
        for (const comment of source.getAllComments()) {
          if (comment.type !== 'Block' || !comment.value.startsWith('*') || !comment.range) continue;
          for (const type of jsdocTypes(comment.value)) {
            const stripped = type.text.replace(/'[^']*'|"[^"]*"|`[^`]*`/g, "''");
            const any = /(^|[^\w$.])any(?![\w$])/.exec(stripped);
            const star = /(^|[<(|,:\s[])\*(?=\s*($|[>)|,\]]))/.exec(stripped);
            const hit = any ?? star;
            if (!hit) continue;
            const index = comment.range[0] + 2 + type.offset + hit.index + hit[1].length;
            context.report({
              loc: source.getLocFromIndex(index),
              messageId: 'any',
              data: { what: any ? 'any' : '*' },
            });
          }
        }
      },
    };
  },
};

export default [
  {
    ignores: ['gateway/web/node_modules/**', 'tests/web/e2e/**', 'tests/web/fixtures/**'],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  js.configs.recommended,
  {
    files: ['**/*.js'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
    plugins: { aura: { rules: { 'no-any-type': noAnyType } } },
    rules: {
      'aura/no-any-type': 'error',
      'no-console': 'error',
      eqeqeq: ['error', 'always'],
      curly: ['error', 'multi-line'],
      'no-var': 'error',
      'prefer-const': 'error',
      'object-shorthand': 'error',
      'no-shadow': 'error',
      'no-param-reassign': 'error',
      'no-implicit-globals': 'error',
      'no-unused-vars': ['error', { args: 'after-used', caughtErrors: 'all' }],
      'no-use-before-define': ['error', { functions: false, classes: true, variables: true }],
      'no-throw-literal': 'error',
      'prefer-template': 'error',
      'no-return-await': 'off',
      'require-await': 'error',
    },
  },
  {
    files: ['gateway/web/public/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    // the log module is the UI's one way to the console
    files: ['gateway/web/public/log.js'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['gateway/web/eslint.config.js', 'tests/web/**/*.js'],
    languageOptions: { globals: { ...globals.node } },
  },
];
