import { expect, test } from '@playwright/test';
import {
	apiJson,
	benchActivity,
	benchResult,
	createApiToken,
	enrollBenchHost,
	snap,
	type Bench
} from './support';

// Benchmarks end to end against a real `obt serve` (local mode): two standalone hosts are
// enrolled and played by this test the way their agents would (PUT activity and POST results
// with their node tokens); an operator starts a benchmark of two models on the two hosts from the
// Benchmarks page, watches it run, then sees it finish, the grouped bar chart and the matrix.
const MODELS = ['e2e-bench-a:3b', 'e2e-bench-b:7b'];

test('start a benchmark of two models on two nodes, watch it run, see the chart and the matrix', async ({
	page,
	request
}) => {
	const hosts = [
		await enrollBenchHost(request, 'e2e-bench-4090', 'NVIDIA GeForce RTX 4090', MODELS),
		await enrollBenchHost(request, 'e2e-bench-a6000', 'NVIDIA RTX A6000', MODELS)
	];
	const { token } = await createApiToken(request, 'operator');
	const signedIn = await page.request.post('/api/v1/auth/session', { data: { token } });
	expect(signedIn.status(), await signedIn.text()).toBe(200);

	// On the Models page: select the two models and the two hosts, then "Benchmark…" opens the
	// new-benchmark form filled in with them.
	await page.goto('/models');
	const modelSearch = page.getByRole('searchbox', { name: 'Search models' });
	for (const model of MODELS) {
		await modelSearch.fill(model);
		await page.locator(`[data-model="${model}"]`).first().getByRole('checkbox').check();
	}
	const search = page.getByRole('searchbox', { name: 'Search nodes to act on' });
	for (const host of hosts) {
		await search.fill(host.name);
		await page.getByRole('checkbox', { name: `Act on ${host.name}` }).check();
	}
	await page.getByTestId('action-benchmark').click();
	await expect(page).toHaveURL(/\/benchmarks\?new=1/);
	await expect(page.getByRole('link', { name: 'Benchmarks' })).toHaveAttribute(
		'aria-current',
		'page'
	);
	await expect(page.getByTestId('bench-models')).toHaveValue(MODELS.join(', '));
	await expect(page.getByTestId('chosen-nodes').getByRole('listitem')).toHaveCount(2);
	await page.getByTestId('bench-reps').fill('4');
	await page.getByTestId('bench-start').click();
	await expect(page.getByTestId('bench-error')).toContainText('Repetitions');
	await page.getByTestId('bench-reps').fill('5');
	await page.getByTestId('bench-name').fill('e2e-bench');
	await snap(page, 'benchmarks-new');
	await page.getByTestId('bench-start').click();

	await expect(page).toHaveURL(/\/benchmarks\/e2e-bench$/);
	await expect(page.getByTestId('bench-counts')).toContainText('4 selected');
	await expect(page.getByTestId('bench-outcome')).toHaveCount(4);
	const bench = await apiJson<Bench>(request, '/api/v1/benchmarks/e2e-bench');

	// Both agents start measuring the first model: the page follows them live.
	for (const host of hosts) await benchActivity(request, host, bench, MODELS[0]);
	await expect(page.getByTestId('bench-counts')).toContainText('2 running');
	await expect(page.getByTestId('bench-phase')).toHaveText(/running/i);
	await snap(page, 'benchmarks-detail-running');

	// Results arrive: the RTX 4090 is faster at both.
	await benchResult(request, hosts[0], bench, MODELS[0], 120, 4200);
	await benchResult(request, hosts[1], bench, MODELS[0], 80, 3100);
	await benchResult(request, hosts[0], bench, MODELS[1], 60, 2100);
	await benchResult(request, hosts[1], bench, MODELS[1], 41, 1500);
	await expect(page.getByTestId('bench-counts')).toContainText('4 done (4 ran, 0 reused)');
	await expect(page.getByTestId('bench-phase')).toHaveText(/done/i);
	await expect(page.getByTestId('bench-cancel')).toHaveCount(0);
	await snap(page, 'benchmarks-detail-done');

	// The list shows it finished, the results show the chart, the matrix and the best machines.
	await page.getByRole('link', { name: 'Benchmarks' }).first().click();
	const row = page.locator('[data-testid="benchmark-row"][data-benchmark="e2e-bench"]');
	await expect(row.getByTestId('bench-done')).toHaveText('4/4');
	await expect(page.getByTestId('bench-chart-tg').locator('canvas')).toHaveAttribute(
		'aria-label',
		// Other specs' results may be there too (one database): this node's group has its bar.
		new RegExp(`${hosts[0].name}: [^;]*${MODELS[0]} 120\\.0 ± 4\\.0`)
	);
	await expect(page.getByTestId('bench-chart-pp')).toBeVisible();
	const matrix = page.getByTestId('bench-matrix');
	const mine = hosts.map((h) =>
		matrix.locator(`[data-testid="matrix-row"][data-node="${h.name}"]`)
	);
	for (const r of mine) await expect(r).toBeVisible();
	const cell = matrix
		.locator(`[data-testid="matrix-row"][data-node="${hosts[1].name}"]`)
		.locator(`[data-model="${MODELS[1]}"]`);
	await expect(cell).toContainText('tg 41.0 ± 1.4');
	await expect(cell).toContainText('pp 1500 ± 38');
	await expect(cell.getByTestId('placement')).toHaveText('full GPU');
	await expect(page.getByTestId('best-machine').filter({ hasText: MODELS[0] })).toContainText(
		`Best machine for ${MODELS[0]}: ${hosts[0].name} (120.0 tg tokens/s, full GPU)`
	);
	// Sorting by a model puts the fastest node first (nodes without a result for it last).
	const order = async () =>
		(
			await matrix
				.getByTestId('matrix-row')
				.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-node')))
		).filter((n) => n?.startsWith('e2e-bench-'));
	await matrix.getByRole('button', { name: MODELS[0] }).click();
	await expect.poll(order).toEqual([hosts[0].name, hosts[1].name]);
	await expect(matrix.getByTestId('matrix-row').first()).toHaveAttribute(
		'data-node',
		hosts[0].name
	);
	await matrix.getByRole('button', { name: MODELS[0] }).click();
	await expect.poll(order).toEqual([hosts[1].name, hosts[0].name]);
	// A cell opens that node+model's history.
	await cell.getByRole('button').click();
	await expect(page.getByTestId('history-chart')).toContainText(hosts[1].name);
	await expect(page.getByTestId('export-csv')).toHaveAttribute(
		'href',
		'/api/v1/benchmark-results?format=csv'
	);
	await snap(page, 'benchmarks-results');
});
