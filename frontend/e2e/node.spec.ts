import { expect, test } from '@playwright/test';
import { adminHeaders, apiJson, seed, snap } from './support';

type Detail = {
	name: string;
	gpuCount: number;
	hardware: { gpus: { name: string }[] };
	models: { name: string }[];
	loaded: { name: string }[];
};

const PREFIX = 'e2e-node';

test.beforeAll(async ({ request }) => {
	await seed(request, PREFIX, 10);
});

test('a node page shows its GPUs, models and conditions', async ({ page, request }) => {
	// Pick a seeded node with several GPUs.
	const nodes = await Promise.all(
		Array.from({ length: 10 }, (_, i) =>
			apiJson<Detail>(request, `/api/v1/nodes/${PREFIX}-${String(i).padStart(5, '0')}`)
		)
	);
	const node = nodes.sort((a, b) => b.gpuCount - a.gpuCount)[0];
	expect(node.gpuCount).toBeGreaterThan(0);

	await page.goto('/');
	await page.getByRole('searchbox', { name: 'Search nodes' }).fill(node.name);
	await page.getByRole('link', { name: node.name, exact: true }).click();
	await expect(page).toHaveURL(new RegExp(`/nodes/${node.name}$`));
	await expect(page.getByTestId('node-name')).toHaveText(node.name);
	await expect(page.getByTestId('gpu-card')).toHaveCount(node.gpuCount);
	await expect(page.getByTestId('gpu-card').first()).toContainText(node.hardware.gpus[0].name);
	await expect(page.getByTestId('installed-row')).toHaveCount(node.models.length);
	await expect(page.getByTestId('loaded-row')).toHaveCount(node.loaded.length);
	await expect(page.getByTestId('hardware')).toContainText('CPU');
	await expect(page.getByTestId('conditions')).toContainText('History');
	await snap(page, 'node-dark');
});

test('a node page follows live changes to that node', async ({ page, request }) => {
	const name = `${PREFIX}-00001`;
	await page.goto(`/nodes/${name}`);
	await expect(page.getByTestId('live-indicator')).toHaveAttribute('data-state', 'live');
	const before = await apiJson<Detail>(request, `/api/v1/nodes/${name}`);
	await expect(page.getByTestId('loaded-row')).toHaveCount(before.loaded.length);
	await seed(request, PREFIX, 10, 2);
	const after = await apiJson<Detail>(request, `/api/v1/nodes/${name}`);
	expect(after.loaded.length).not.toBe(before.loaded.length);
	await expect(page.getByTestId('loaded-row')).toHaveCount(after.loaded.length);
	await seed(request, PREFIX, 10, 0);
});

test("a standalone host's heartbeat shows its GPUs' live figures", async ({ page, request }) => {
	// Enroll a host as its agent would, report one GPU, then heartbeat with live figures.
	const token = await request.post('/api/v1/enrollment-tokens', {
		headers: adminHeaders(),
		data: { description: 'e2e telemetry' }
	});
	expect(token.status(), await token.text()).toBe(201);
	const enrolled = await request.post('/api/v1/agents/enroll', {
		data: { enrollmentToken: (await token.json()).token, hostId: 'e2e-gpu-desk' }
	});
	expect(enrolled.status(), await enrolled.text()).toBe(201);
	const { nodeName, token: nodeToken } = await enrolled.json();
	const auth = { authorization: `Bearer ${nodeToken}` };
	const report = await request.put(`/api/v1/agents/${nodeName}/report`, {
		headers: auth,
		data: {
			hardware: {
				gpus: [
					{
						index: 0,
						vendor: 'nvidia',
						name: 'NVIDIA GeForce RTX 4090',
						memoryTotalBytes: 25757220864
					}
				]
			}
		}
	});
	expect(report.status(), await report.text()).toBe(200);
	const digest = (await report.json()).digest;
	const beat = (utilizationPercent: number) =>
		request.post(`/api/v1/agents/${nodeName}/heartbeat`, {
			headers: auth,
			data: {
				digest,
				telemetry: { gpus: [{ index: 0, utilizationPercent, temperatureC: 66, powerW: 402.5 }] }
			}
		});
	expect((await beat(93)).status()).toBe(200);

	await page.goto(`/nodes/${nodeName}`);
	const card = page.getByTestId('gpu-card');
	await expect(card).toContainText('NVIDIA GeForce RTX 4090');
	await expect(page.getByTestId('gpu-utilization')).toHaveText('93%');
	await expect(card).toContainText('66 °C');
	await expect(card).toContainText('403 W');
	await expect(page.getByTestId('gpu-live-note')).toContainText("agent's last heartbeat");
	await snap(page, 'node-live-gpu');
	// The page refreshes the figures by itself (heartbeats send no event).
	expect((await beat(12)).status()).toBe(200);
	await expect(page.getByTestId('gpu-utilization')).toHaveText('12%', { timeout: 20_000 });
});

test('an unknown node shows the server message', async ({ page }) => {
	await page.goto('/nodes/no-such-node');
	await expect(page.getByTestId('error-alert')).toContainText("node 'no-such-node' not found");
	await snap(page, 'node-not-found');
});
