import { createHash } from 'node:crypto';
import { expect, test, type APIRequestContext } from '@playwright/test';
import { adminHeaders, apiJson, createApiToken, snap } from './support';

// Benchmarks end to end against a real `obt serve` (local mode): two standalone hosts are
// enrolled and played by this test the way their agents would (PUT activity and POST results
// with their node tokens); an operator starts a benchmark of two models on the two hosts from the
// Benchmarks page, watches it run, then sees it finish, the grouped bar chart and the matrix.
const MODELS = ['e2e-bench-a:3b', 'e2e-bench-b:7b'];

type Host = { name: string; auth: { authorization: string }; gpu: string };
type Bench = { metadata: { name: string; uid: string; generation?: number } };

async function enroll(request: APIRequestContext, hostId: string, gpu: string): Promise<Host> {
	const created = await request.post('/api/v1/enrollment-tokens', {
		headers: adminHeaders(),
		data: { description: `benchmarks.spec ${hostId}` }
	});
	expect(created.status(), await created.text()).toBe(201);
	const enrolled = await request.post('/api/v1/agents/enroll', {
		data: { enrollmentToken: (await created.json()).token, hostId }
	});
	expect(enrolled.status(), await enrolled.text()).toBe(201);
	const { nodeName, token } = await enrolled.json();
	const host = { name: nodeName, auth: { authorization: `Bearer ${token}` }, gpu };
	const report = await request.put(`/api/v1/agents/${nodeName}/report`, {
		headers: host.auth,
		data: {
			hardware: { gpus: [] },
			ollama: {
				url: 'http://127.0.0.1:11434',
				reachable: true,
				version: '0.6.0',
				models: [],
				loaded: []
			},
			agent: { version: '0.0.0-e2e', mode: 'http' }
		}
	});
	expect(report.status(), await report.text()).toBe(200);
	return host;
}

/** The host's agent says it is measuring `model` for the benchmark. */
async function measuring(request: APIRequestContext, host: Host, bench: Bench, model: string) {
	const response = await request.put(`/api/v1/agents/${host.name}/activity`, {
		headers: host.auth,
		data: {
			activity: [
				{
					sourceKind: 'OllamaBenchmark',
					source: bench.metadata.name,
					sourceUid: bench.metadata.uid,
					generation: bench.metadata.generation ?? 1,
					action: 'benchmark',
					model,
					phase: 'Running',
					message: 'repetition 2 of 5',
					attempts: 1,
					startedAt: new Date().toISOString()
				}
			]
		}
	});
	expect(response.status(), await response.text()).toBeLessThan(300);
}

function stats(mean: number, sd: number) {
	return {
		mean,
		stddev: sd,
		min: mean - 2 * sd,
		max: mean + 2 * sd,
		n: 5,
		cv: Number((sd / mean).toFixed(4))
	};
}

/** The host's agent sends a measured result (an OllamaBenchmarkResultSpec). */
async function result(
	request: APIRequestContext,
	host: Host,
	bench: Bench,
	model: string,
	tg: number,
	pp: number
) {
	const facts = {
		model,
		modelDigest: createHash('sha256').update(model).digest('hex'),
		ollamaVersion: '0.6.0',
		gpus: [host.gpu],
		gpuDriver: '560.35.03',
		cpu: 'AMD Ryzen 9 7950X',
		memoryGib: 64,
		placement: 'gpu',
		options: { numPredict: 128, numCtx: 4096, temperature: 0.0, seed: 42 },
		suiteHash: createHash('sha256').update('suite').digest('hex'),
		methodVersion: 1
	};
	const response = await request.post(`/api/v1/agents/${host.name}/benchmark-results`, {
		headers: host.auth,
		data: {
			spec: {
				benchmark: bench.metadata.name,
				benchmarkUid: bench.metadata.uid,
				node: host.name,
				model,
				fingerprint: createHash('sha256').update(JSON.stringify(facts)).digest('hex'),
				facts,
				placement: 'gpu',
				pp: stats(pp, pp / 40),
				tg: stats(tg, tg / 30),
				ttftMs: stats(80, 2),
				promptTokens: 400,
				generatedTokens: 128,
				earlyStops: 0,
				flags: [],
				cached: false,
				measuredAt: new Date().toISOString()
			}
		}
	});
	expect(response.status(), await response.text()).toBe(201);
}

test('start a benchmark of two models on two nodes, watch it run, see the chart and the matrix', async ({
	page,
	request
}) => {
	const hosts = [
		await enroll(request, 'e2e-bench-4090', 'NVIDIA GeForce RTX 4090'),
		await enroll(request, 'e2e-bench-a6000', 'NVIDIA RTX A6000')
	];
	const { token } = await createApiToken(request, 'operator');
	const signedIn = await page.request.post('/api/v1/auth/session', { data: { token } });
	expect(signedIn.status(), await signedIn.text()).toBe(200);

	// The Models page's "Benchmark…" link opens this form filled in; here it is filled by hand.
	await page.goto(`/benchmarks?new=1&models=${encodeURIComponent(MODELS.join(','))}`);
	await expect(page.getByRole('link', { name: 'Benchmarks' })).toHaveAttribute(
		'aria-current',
		'page'
	);
	await expect(page.getByTestId('bench-models')).toHaveValue(MODELS.join(', '));
	await page.getByTestId('bench-reps').fill('4');
	const search = page.getByRole('searchbox', { name: 'Search nodes to act on' });
	for (const host of hosts) {
		await search.fill(host.name);
		await page.getByRole('checkbox', { name: `Act on ${host.name}` }).check();
	}
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
	for (const host of hosts) await measuring(request, host, bench, MODELS[0]);
	await expect(page.getByTestId('bench-counts')).toContainText('2 running');
	await expect(page.getByTestId('bench-phase')).toHaveText(/running/i);
	await snap(page, 'benchmarks-detail-running');

	// Results arrive: the RTX 4090 is faster at both.
	await result(request, hosts[0], bench, MODELS[0], 120, 4200);
	await result(request, hosts[1], bench, MODELS[0], 80, 3100);
	await result(request, hosts[0], bench, MODELS[1], 60, 2100);
	await result(request, hosts[1], bench, MODELS[1], 41, 1500);
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
		new RegExp(`${hosts[0].name}: ${MODELS[0].replace('.', '\\.')} 120\\.0 ± 4\\.0`)
	);
	await expect(page.getByTestId('bench-chart-pp')).toBeVisible();
	const matrix = page.getByTestId('bench-matrix');
	await expect(matrix.getByTestId('matrix-row')).toHaveCount(2);
	const cell = matrix
		.locator(`[data-testid="matrix-row"][data-node="${hosts[1].name}"]`)
		.locator(`[data-model="${MODELS[1]}"]`);
	await expect(cell).toContainText('tg 41.0 ± 1.4');
	await expect(cell).toContainText('pp 1500 ± 38');
	await expect(cell.getByTestId('placement')).toHaveText('full GPU');
	await expect(page.getByTestId('best-machine').first()).toContainText(
		`Best machine for ${MODELS[0]}: ${hosts[0].name} (120.0 tg tokens/s, full GPU)`
	);
	// Sorting by a model puts the fastest node first.
	await matrix.getByRole('button', { name: MODELS[0] }).click();
	await expect(matrix.getByTestId('matrix-row').first()).toHaveAttribute(
		'data-node',
		hosts[0].name
	);
	await matrix.getByRole('button', { name: MODELS[0] }).click();
	await expect(matrix.getByTestId('matrix-row').first()).toHaveAttribute(
		'data-node',
		hosts[1].name
	);
	// A cell opens that node+model's history.
	await cell.getByRole('button').click();
	await expect(page.getByTestId('history-chart')).toContainText(hosts[1].name);
	await expect(page.getByTestId('export-csv')).toHaveAttribute(
		'href',
		'/api/v1/benchmark-results?format=csv'
	);
	await snap(page, 'benchmarks-results');
});
