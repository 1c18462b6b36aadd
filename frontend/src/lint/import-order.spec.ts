// @vitest-environment node
// `pnpm lint` enforces import order (eslint.config.js, eslint-plugin-import's import/order): this
// lints snippets with the project's own config, so a config that stopped enforcing it fails here.
import { ESLint } from 'eslint';

const eslint = new ESLint({ cwd: process.cwd() });

async function importOrderErrors(code: string): Promise<string[]> {
	const [result] = await eslint.lintText(code, { filePath: 'src/lib/lint-fixture.ts' });
	return result.messages.filter((m) => m.ruleId === 'import/order').map((m) => m.message);
}

describe('import order', () => {
	// Loading the config (typescript-eslint, svelte, the import plugin) takes seconds on a busy
	// machine: once, up front, with a generous bound; the snippets themselves lint in milliseconds.
	beforeAll(async () => {
		await eslint.calculateConfigForFile('src/lib/lint-fixture.ts');
	}, 120_000);

	it('fails a relative import placed before a package import', async () => {
		const errors = await importOrderErrors(
			"import { DEFAULT_PAGE_SIZE } from './fleetQuery';\n" +
				"import { writable } from 'svelte/store';\n" +
				'export const store = writable(DEFAULT_PAGE_SIZE);\n'
		);
		expect(errors).toEqual(['`svelte/store` import should occur before import of `./fleetQuery`']);
	});

	it('fails $lib placed before a package, and packages out of alphabetical order', async () => {
		const errors = await importOrderErrors(
			"import { describeError } from '$lib/api';\n" +
				"import { writable } from 'svelte/store';\n" +
				"import Chart from 'chart.js/auto';\n" +
				'export const all = [describeError, writable, Chart];\n'
		);
		expect(errors.length).toBeGreaterThanOrEqual(2);
	});

	it('passes packages, then $app, then $lib, then relative paths', async () => {
		const errors = await importOrderErrors(
			"import Chart from 'chart.js/auto';\n" +
				"import { writable } from 'svelte/store';\n" +
				"import { page } from '$app/state';\n" +
				"import { describeError } from '$lib/api';\n" +
				"import { DEFAULT_PAGE_SIZE } from './fleetQuery';\n" +
				'export const all = [Chart, writable, page, describeError, DEFAULT_PAGE_SIZE];\n'
		);
		expect(errors).toEqual([]);
	});
});
