import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, type APIRequestContext, type Page } from '@playwright/test';

export const SCREENSHOTS = join(
	dirname(fileURLToPath(import.meta.url)),
	'..',
	'test-results',
	'screenshots'
);

/** The second server (playwright.config.ts): anonymous read off, so the dashboard needs sign-in. */
export function closedUrl(path = ''): string {
	return `http://127.0.0.1:${process.env.OBT_E2E_CLOSED_PORT}${path}`;
}

/** A new API token made with the admin token (POST /api/v1/tokens on `base`). */
export async function createApiToken(
	request: APIRequestContext,
	role: 'viewer' | 'operator' | 'admin',
	base = ''
): Promise<{ id: string; token: string }> {
	const response = await request.post(`${base}/api/v1/tokens`, {
		headers: adminHeaders(),
		data: { role, description: `e2e ${role}` }
	});
	expect(response.status(), await response.text()).toBe(201);
	const body = await response.json();
	return { id: body.id, token: body.token };
}

/** Enroll a standalone host as its agent would and send one report; returns its node name. */
export async function enrollHost(
	request: APIRequestContext,
	hostId: string,
	base = ''
): Promise<string> {
	const token = await request.post(`${base}/api/v1/enrollment-tokens`, {
		headers: adminHeaders(),
		data: { description: `e2e ${hostId}` }
	});
	expect(token.status(), await token.text()).toBe(201);
	const enrolled = await request.post(`${base}/api/v1/agents/enroll`, {
		data: { enrollmentToken: (await token.json()).token, hostId }
	});
	expect(enrolled.status(), await enrolled.text()).toBe(201);
	const { nodeName, token: nodeToken } = await enrolled.json();
	const report = await request.put(`${base}/api/v1/agents/${nodeName}/report`, {
		headers: { authorization: `Bearer ${nodeToken}` },
		data: { hardware: { gpus: [] } }
	});
	expect(report.status(), await report.text()).toBe(200);
	return nodeName;
}

export function adminHeaders() {
	return { authorization: `Bearer ${process.env.OBT_E2E_ADMIN_TOKEN}` };
}

/**
 * Seed deterministic fake nodes through the API's admin endpoint (POST /api/v1/admin/seed):
 * '<prefix>-00000'... Re-seeding with another `variant` changes what they have loaded.
 */
export async function seed(
	request: APIRequestContext,
	prefix: string,
	count: number,
	variant = 0
): Promise<string[]> {
	const response = await request.post('/api/v1/admin/seed', {
		headers: adminHeaders(),
		data: { prefix, count, variant, models: 12 }
	});
	expect(response.status(), await response.text()).toBe(200);
	return (await response.json()).names;
}

export async function apiJson<T>(request: APIRequestContext, path: string): Promise<T> {
	const response = await request.get(path);
	expect(response.status(), await response.text()).toBe(200);
	return (await response.json()) as T;
}

export async function snap(page: Page, name: string): Promise<void> {
	mkdirSync(SCREENSHOTS, { recursive: true });
	await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

export async function searchFleet(page: Page, term: string): Promise<void> {
	await page.getByRole('searchbox', { name: 'Search nodes' }).fill(term);
}

// Benchmarks (e2e/benchmarks.spec.ts, e2e/a11y.spec.ts): standalone hosts played by the test.
export type BenchHost = { name: string; auth: { authorization: string }; gpu: string };
export type Bench = { metadata: { name: string; uid: string; generation?: number } };

/** Enroll a standalone host for benchmarks (its agent reports a reachable Ollama). */
export async function enrollBenchHost(
	request: APIRequestContext,
	hostId: string,
	gpu: string,
	installed: string[] = []
): Promise<BenchHost> {
	const created = await request.post('/api/v1/enrollment-tokens', {
		headers: adminHeaders(),
		data: { description: `e2e bench ${hostId}` }
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
				models: installed.map(
					(m) =>
						`${m} ${createHash('sha256').update(m).digest('hex').slice(0, 12)} 2000000000 - - - 2026-12-01T00:00:00Z`
				),
				loaded: []
			},
			agent: { version: '0.0.0-e2e', mode: 'http' }
		}
	});
	expect(report.status(), await report.text()).toBe(200);
	return host;
}

/**
 * The host's agent says where it stands with `model` for the benchmark: measuring it, or
 * skipped with a reason (DoesNotFit, Busy...).
 */
export async function benchActivity(
	request: APIRequestContext,
	host: BenchHost,
	bench: Bench,
	model: string,
	phase: 'Running' | 'Skipped' = 'Running',
	reason?: string
) {
	const now = new Date().toISOString();
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
					phase,
					...(reason ? { reason } : {}),
					message: phase === 'Running' ? 'repetition 2 of 5' : `skipped: ${reason}`,
					attempts: 1,
					startedAt: now,
					...(phase === 'Running' ? {} : { finishedAt: now })
				}
			]
		}
	});
	expect(response.status(), await response.text()).toBeLessThan(300);
}

function benchStats(mean: number, sd: number) {
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
export async function benchResult(
	request: APIRequestContext,
	host: BenchHost,
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
				pp: benchStats(pp, pp / 40),
				tg: benchStats(tg, tg / 30),
				ttftMs: benchStats(80, 2),
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
