import { expect, test } from '@playwright/test';
import { seed } from './support';

const GB = 1_000_000_000;
const TASK = {
	metadata: {
		name: 'pull-llama3-2-x7k2p',
		uid: 'u1',
		creationTimestamp: new Date(Date.now() - 90_000).toISOString()
	},
	spec: {
		action: 'pull',
		models: [{ name: 'llama3.2:latest' }, { name: 'qwen2.5:7b' }],
		nodes: ['prev-00000', 'prev-00001', 'prev-00002']
	},
	status: {
		phase: 'Running',
		selected: 3,
		succeeded: 1,
		failed: 1,
		running: 1,
		pending: 0,
		startTime: new Date(Date.now() - 80_000).toISOString(),
		nodes: [
			{
				node: 'prev-00002',
				phase: 'Failed',
				model: 'qwen2.5:7b',
				reason: 'DiskFull',
				message: 'needs 4.7 GB, 1.2 GB free on /usr/share/ollama',
				completedBytes: 0,
				totalBytes: 4.7 * GB
			},
			{
				node: 'prev-00000',
				phase: 'Running',
				model: 'llama3.2:latest',
				completedBytes: 1.2 * GB,
				totalBytes: 2 * GB
			},
			{
				node: 'prev-00000',
				phase: 'Pending',
				model: 'qwen2.5:7b',
				completedBytes: 0,
				totalBytes: 4.7 * GB
			},
			{ node: 'prev-00001', phase: 'Succeeded', completedBytes: 6.7 * GB, totalBytes: 6.7 * GB }
		]
	}
};
const DONE = {
	...TASK,
	metadata: {
		...TASK.metadata,
		name: 'delete-mistral-ab12c',
		creationTimestamp: new Date(Date.now() - 7200_000).toISOString()
	},
	spec: {
		action: 'delete',
		models: [{ name: 'mistral:7b' }],
		nodeSelector: { matchLabels: { zone: 'zone-1' } }
	},
	status: { phase: 'Succeeded', selected: 4, succeeded: 4 }
};
const SET = {
	metadata: {
		name: 'chat-models',
		creationTimestamp: new Date(Date.now() - 86400_000).toISOString()
	},
	spec: {
		models: [{ name: 'llama3.2:latest' }, { name: 'qwen2.5:7b', digest: 'a'.repeat(64) }],
		nodeSelector: { matchLabels: { zone: 'zone-1' } },
		keepLoaded: true,
		maxConcurrentPulls: '25%',
		prune: false
	},
	status: {
		selected: 5,
		ready: 2,
		pulling: 1,
		waiting: 1,
		failed: 1,
		drifted: 1,
		nodes: [
			{
				node: 'prev-00002',
				state: 'Failed',
				missing: ['qwen2.5:7b'],
				reason: 'OllamaError',
				message: 'pull model manifest: file does not exist'
			},
			{
				node: 'prev-00000',
				state: 'Pulling',
				missing: ['qwen2.5:7b'],
				completedBytes: 2 * GB,
				totalBytes: 4.7 * GB
			},
			{
				node: 'prev-00001',
				state: 'Waiting',
				missing: ['llama3.2:latest'],
				drifted: ['qwen2.5:7b'],
				reason: 'Drifted',
				message: 'qwen2.5:7b has digest 1234abcd5678, the set pins aaaaaaaaaaaa'
			}
		],
		conditions: [
			{
				type: 'Ready',
				status: 'False',
				reason: 'NodesNotReady',
				message: '3 of 5 nodes are not ready',
				lastTransitionTime: new Date().toISOString()
			}
		]
	}
};

for (const theme of ['dark', 'light']) {
	test(`preview ${theme}`, async ({ page, request }) => {
		await page.addInitScript((t) => localStorage.setItem('obt-theme', t), theme);
		await seed(request, 'prev', 4);
		await page.route('**/api/v1/tasks', (r) => r.fulfill({ json: [TASK, DONE] }));
		await page.route('**/api/v1/tasks/*', (r) => r.fulfill({ json: TASK }));
		await page.route('**/api/v1/modelsets', (r) => r.fulfill({ json: [SET] }));
		await page.route('**/api/v1/nodes/prev-00000', async (r) => {
			const res = await r.fetch();
			const body = await res.json();
			body.activity = [
				{
					sourceKind: 'OllamaTask',
					source: TASK.metadata.name,
					action: 'pull',
					model: 'llama3.2:latest',
					phase: 'Running',
					message: 'pulling dde5aa3fc5ff',
					completedBytes: 1.2 * GB,
					totalBytes: 2 * GB
				},
				{
					sourceKind: 'OllamaModelSet',
					source: 'chat-models',
					action: 'load',
					model: 'qwen2.5:7b',
					phase: 'Failed',
					reason: 'OllamaError',
					message: 'model requires more system memory (9.1 GiB) than is available (4.0 GiB)',
					finishedAt: new Date(Date.now() - 300_000).toISOString()
				},
				{
					sourceKind: 'OllamaTask',
					source: 'delete-mistral-ab12c',
					action: 'delete',
					model: 'mistral:7b',
					phase: 'Succeeded',
					finishedAt: new Date(Date.now() - 7000_000).toISOString()
				}
			];
			await r.fulfill({ response: res, json: body });
		});
		const signedIn = await page.request.post('/api/v1/auth/session', {
			data: { token: process.env.OBT_E2E_ADMIN_TOKEN }
		});
		expect(signedIn.status()).toBe(200);
		await page.goto('/tasks');
		await expect(page.getByTestId('task-row').first()).toBeVisible();
		await page.screenshot({ path: `/tmp/dashviz/tasks-${theme}.png`, fullPage: true });
		await page.goto(`/tasks/${TASK.metadata.name}`);
		await expect(page.getByTestId('node-progress').first()).toBeVisible();
		await page.screenshot({ path: `/tmp/dashviz/task-${theme}.png`, fullPage: true });
		await page.goto('/modelsets');
		await expect(page.getByTestId('modelset-row').first()).toBeVisible();
		await page.screenshot({ path: `/tmp/dashviz/modelsets-${theme}.png`, fullPage: true });
		await page.goto('/modelsets/chat-models');
		await expect(page.getByTestId('member-row').first()).toBeVisible();
		await page.getByTestId('modelset-edit').click();
		await page.screenshot({ path: `/tmp/dashviz/modelset-${theme}.png`, fullPage: true });
		await page.goto('/nodes/prev-00000');
		await expect(page.getByTestId('activity-running')).toBeVisible();
		await page.screenshot({ path: `/tmp/dashviz/node-${theme}.png`, fullPage: true });
		await page.goto('/models');
		await page.getByTestId('model-row').nth(0).getByRole('checkbox').check();
		await page.getByTestId('model-row').nth(1).getByRole('checkbox').check();
		await page.getByRole('searchbox', { name: 'Search nodes to act on' }).fill('prev');
		await page.getByRole('checkbox', { name: 'Act on prev-00000' }).check();
		await page.getByRole('checkbox', { name: 'Act on prev-00001' }).check();
		await page.screenshot({ path: `/tmp/dashviz/models-${theme}.png`, fullPage: true });
		await page.getByTestId('action-delete').click();
		await page.screenshot({ path: `/tmp/dashviz/confirm-${theme}.png` });
	});
}
