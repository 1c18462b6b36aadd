import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import importPlugin from 'eslint-plugin-import';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';
import ts from 'typescript-eslint';
import svelteConfig from './svelte.config.js';

export default ts.config(
	{
		ignores: [
			'build/',
			'.svelte-kit/',
			'node_modules/',
			'test-results/',
			'playwright-report/',
			'coverage/',
			'src/lib/api/generated/'
		]
	},
	js.configs.recommended,
	...ts.configs.recommended,
	...svelte.configs.recommended,
	prettier,
	...svelte.configs.prettier,
	{
		languageOptions: { globals: { ...globals.browser, ...globals.node } }
	},
	{
		files: ['**/*.svelte', '**/*.svelte.ts', '**/*.svelte.js'],
		languageOptions: {
			parserOptions: {
				projectService: true,
				extraFileExtensions: ['.svelte'],
				parser: ts.parser,
				svelteConfig
			}
		}
	},
	{
		// Import order (eslint-plugin-import; its flat config works with ESLint 9, so not the
		// import-x fork): Node built-ins, packages, SvelteKit's $app/$env, then $lib, then
		// relative paths, each group alphabetised. Only the order rule: resolving every import
		// is svelte-check's job (it knows the $lib alias and the .svelte files).
		plugins: { import: importPlugin },
		rules: {
			'import/order': [
				'error',
				{
					groups: ['builtin', 'external', 'internal', 'parent', 'sibling', 'index'],
					pathGroups: [
						{ pattern: '$app/**', group: 'external', position: 'after' },
						{ pattern: '$env/**', group: 'external', position: 'after' },
						{ pattern: '$lib/**', group: 'internal' },
						{ pattern: '$lib', group: 'internal' }
					],
					pathGroupsExcludedImportTypes: ['builtin'],
					'newlines-between': 'never',
					alphabetize: { order: 'asc', caseInsensitive: true }
				}
			]
		}
	},
	{
		rules: {
			'@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
			// Links are plain hrefs in a base-less SPA; resolve() adds nothing here.
			'svelte/no-navigation-without-resolve': 'off'
		}
	}
);
