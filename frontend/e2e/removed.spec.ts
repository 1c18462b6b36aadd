import { expect, test, type APIRequestContext } from '@playwright/test';
import { adminHeaders, searchFleet, snap } from './support';

// A standalone host as a person has one: enrolled, reporting, then removed. It must stay in
// sight in the fleet page's "Recently removed" section, and leave it when it reports again.
const HOST = 'E2E Gaming PC';
const GIB = 1024 ** 3;
const REPORT = {
	hardware: {
		cpu: { model: 'AMD Ryzen 9 7950X 16-Core Processor', physicalCores: 16, logicalCores: 32 },
		memory: { totalBytes: 64 * GIB, availableBytes: 40 * GIB },
		os: { system: 'Windows', distro: 'Windows', distroVersion: '11' },
		gpus: [
			{ index: 0, vendor: 'nvidia', name: 'NVIDIA GeForce RTX 4090', memoryTotalBytes: 24 * GIB }
		]
	},
	ollama: {
		url: 'http://127.0.0.1:11434',
		reachable: true,
		version: '0.5.7',
		models: [
			'llama3.1:8b 42182419e950 4920753328 llama 8.0B Q4_K_M 2024-08-01T00:00:00Z',
			'qwen2.5:0.5b a8b0c5157701 397821319 qwen2 494.03M Q4_K_M 2024-08-01T00:00:00Z'
		],
		loaded: []
	},
	agent: { version: '0.0.0-e2e', mode: 'http' }
};

async function enrollHost(request: APIRequestContext) {
	const created = await request.post('/api/v1/enrollment-tokens', {
		headers: adminHeaders(),
		data: { description: 'removed.spec' }
	});
	expect(created.status(), await created.text()).toBe(201);
	const enrolled = await request.post('/api/v1/agents/enroll', {
		data: { enrollmentToken: (await created.json()).token, hostId: HOST, displayName: HOST }
	});
	expect(enrolled.status(), await enrolled.text()).toBe(201);
	const { nodeName, token } = await enrolled.json();
	return { name: nodeName as string, auth: { authorization: `Bearer ${token}` } };
}

async function report(request: APIRequestContext, name: string, auth: Record<string, string>) {
	const response = await request.put(`/api/v1/agents/${name}/report`, {
		headers: auth,
		data: REPORT
	});
	expect(response.status(), await response.text()).toBe(200);
}

test('a removed host stays in sight with its reason, hardware and models, and leaves when back', async ({
	page,
	request
}) => {
	const { name, auth } = await enrollHost(request);
	await report(request, name, auth);

	await page.goto('/');
	await expect(page.getByTestId('live-indicator')).toHaveAttribute('data-state', 'live');
	await searchFleet(page, name);
	await expect(page.locator(`[data-testid="node-row"][data-node="${name}"]`)).toBeVisible();

	// Removed while the page is open: the live event brings it into "Recently removed".
	const removed = await request.delete(`/api/v1/admin/nodes/${name}`, { headers: adminHeaders() });
	expect(removed.status(), await removed.text()).toBe(204);
	await expect(page.locator(`[data-testid="node-row"][data-node="${name}"]`)).toHaveCount(0);
	const row = page.locator(`[data-testid="removed-row"][data-node="${name}"]`);
	await expect(row).toBeVisible();
	await expect(page.getByRole('heading', { name: 'Recently removed' })).toBeVisible();
	await expect(row.getByTestId('removed-reason')).toHaveText('Deleted by an admin');
	await expect(row).toContainText(HOST);
	await expect(row.getByTestId('removed-last-seen')).toHaveText(/just now|\d+s ago/);
	await expect(row.getByTestId('removed-hardware')).toContainText('RTX 4090');
	await expect(row.getByTestId('removed-hardware')).toContainText('64 GiB RAM');
	await expect(row.getByTestId('removed-models')).toHaveText('llama3.1:8b, qwen2.5:0.5b');
	await searchFleet(page, '');
	await expect(page.getByTestId('node-row').first()).toBeVisible(); // the rest of the fleet
	await row.scrollIntoViewIfNeeded();
	await snap(page, 'fleet-removed');

	// It reports again (its digest was forgotten with the removal): listed, no longer removed.
	await report(request, name, auth);
	await searchFleet(page, name);
	await expect(page.locator(`[data-testid="node-row"][data-node="${name}"]`)).toBeVisible();
	await expect(row).toHaveCount(0);
});
