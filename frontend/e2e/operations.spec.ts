import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { adminHeaders, apiJson, createApiToken, seed, snap } from './support';

// Model operations end to end against a real `obt serve` (local mode): two standalone hosts are
// enrolled and driven by this test the way their agents would drive them (PUT activity with their
// node tokens, PUT report with their inventory); an operator selects two models and the two
// hosts on the Models page, pulls, watches the per-node progress reach done, sees the models
// installed, deletes them after a confirmation that names where one is loaded, and looks at the
// Tasks and Model sets pages.
const GB = 1_000_000_000;
const LABEL = { 'e2e-ops': 'yes' };

type Host = { name: string; auth: { authorization: string } };
type CatalogueModel = { name: string; digest: string | null; size: number | null };
type Activity = Record<string, unknown>;

async function enroll(request: APIRequestContext, hostId: string): Promise<Host> {
	const created = await request.post('/api/v1/enrollment-tokens', {
		headers: adminHeaders(),
		data: { description: `operations.spec ${hostId}` }
	});
	expect(created.status(), await created.text()).toBe(201);
	const enrolled = await request.post('/api/v1/agents/enroll', {
		data: { enrollmentToken: (await created.json()).token, hostId, labels: LABEL }
	});
	expect(enrolled.status(), await enrolled.text()).toBe(201);
	const { nodeName, token } = await enrolled.json();
	return { name: nodeName, auth: { authorization: `Bearer ${token}` } };
}

function line(model: CatalogueModel): string {
	const digest = (model.digest ?? '-').slice(0, 12) || '-';
	return `${model.name} ${digest} ${model.size ?? 2 * GB} - - - 2026-12-01T00:00:00Z`;
}

/** What the host's agent reports: its installed models and the ones loaded. */
async function report(
	request: APIRequestContext,
	host: Host,
	installed: CatalogueModel[],
	loaded: CatalogueModel[] = []
): Promise<void> {
	const response = await request.put(`/api/v1/agents/${host.name}/report`, {
		headers: host.auth,
		data: {
			hardware: { gpus: [] },
			ollama: {
				url: 'http://127.0.0.1:11434',
				reachable: true,
				version: '0.5.7',
				models: installed.map(line),
				loaded: loaded.map((m) => ({ name: m.name, size: m.size ?? GB, sizeVram: m.size ?? GB }))
			},
			agent: { version: '0.0.0-e2e', mode: 'http' }
		}
	});
	expect(response.status(), await response.text()).toBe(200);
}

/** What the host's agent sends while it works: its whole activity list. */
async function activity(request: APIRequestContext, host: Host, steps: Activity[]): Promise<void> {
	const response = await request.put(`/api/v1/agents/${host.name}/activity`, {
		headers: host.auth,
		data: { activity: steps }
	});
	expect(response.status(), await response.text()).toBeLessThan(300);
}

type Task = { metadata: { name: string; uid?: string; generation?: number } };

function step(
	task: Task,
	action: string,
	model: CatalogueModel,
	phase: string,
	completed?: number
): Activity {
	const total = model.size ?? 2 * GB;
	const now = new Date().toISOString();
	return {
		sourceKind: 'OllamaTask',
		source: task.metadata.name,
		sourceUid: task.metadata.uid,
		generation: task.metadata.generation ?? 1,
		action,
		model: model.name,
		phase,
		message: phase === 'Running' ? 'pulling 3f1a' : '',
		...(action === 'pull'
			? { completedBytes: phase === 'Succeeded' ? total : (completed ?? 0), totalBytes: total }
			: {}),
		attempts: 1,
		startedAt: now,
		...(phase === 'Running' ? {} : { finishedAt: now })
	};
}

async function signInAsOperator(page: Page, request: APIRequestContext): Promise<void> {
	const { token } = await createApiToken(request, 'operator');
	const signedIn = await page.request.post('/api/v1/auth/session', { data: { token } });
	expect(signedIn.status(), await signedIn.text()).toBe(200);
}

async function selectModels(page: Page, models: CatalogueModel[]): Promise<void> {
	const search = page.getByRole('searchbox', { name: 'Search models' });
	for (const model of models) {
		await search.fill(model.name);
		await page.locator(`[data-model="${model.name}"]`).first().getByRole('checkbox').check();
	}
	await search.fill('');
}

async function pickNodes(page: Page, hosts: Host[]): Promise<void> {
	const search = page.getByRole('searchbox', { name: 'Search nodes to act on' });
	for (const host of hosts) {
		await search.fill(host.name);
		await page.getByRole('checkbox', { name: `Act on ${host.name}` }).check();
	}
	await expect(page.getByTestId('chosen-nodes').getByRole('listitem')).toHaveCount(hosts.length);
}

async function followedTask(page: Page, request: APIRequestContext): Promise<Task> {
	const link = page.getByTestId('followed-task').getByRole('link').first();
	await expect(link).toBeVisible();
	const name = (await link.textContent())!.trim();
	return apiJson<Task>(request, `/api/v1/tasks/${encodeURIComponent(name)}`);
}

function progressRow(page: Page, host: Host) {
	return page.locator(`[data-testid="node-progress"][data-node="${host.name}"]`);
}

test.beforeAll(async ({ request }) => {
	await seed(request, 'e2e-ops', 4);
});

test('pull two models on two nodes, watch them finish, then delete them after a confirmation', async ({
	page,
	request
}) => {
	test.setTimeout(120_000);
	const catalogue = await apiJson<{ items: CatalogueModel[] }>(
		request,
		'/api/v1/models?sort=-nodes&limit=2'
	);
	const models = catalogue.items;
	expect(models).toHaveLength(2);
	const hosts = [await enroll(request, 'e2e-ops-a'), await enroll(request, 'e2e-ops-b')];
	for (const host of hosts) await report(request, host, []);

	await signInAsOperator(page, request);
	await page.goto('/models');
	await expect(page.getByTestId('model-row').first()).toBeVisible();
	await selectModels(page, models);
	await pickNodes(page, hosts);

	// Pull: the confirmation names the models and the nodes.
	await page.getByTestId('action-pull').click();
	const dialog = page.getByTestId('confirm-action');
	await expect(dialog).toBeVisible();
	await expect(dialog.getByRole('heading')).toHaveText('Pull 2 models?');
	for (const name of [...models.map((m) => m.name), ...hosts.map((h) => h.name)])
		await expect(page.getByTestId('confirm-body')).toContainText(name);
	await page.getByTestId('confirm-start').click();
	await expect(dialog).toBeHidden();
	const pull = await followedTask(page, request);
	for (const host of hosts) await expect(progressRow(page, host)).toBeVisible();

	// The agents start: half of each model pulled, so each node is at 50 %.
	for (const host of hosts)
		await activity(
			request,
			host,
			models.map((m) => step(pull, 'pull', m, 'Running', Math.floor((m.size ?? 2 * GB) / 2)))
		);
	for (const host of hosts) {
		await expect(progressRow(page, host)).toHaveAttribute('data-phase', 'Running');
		await expect(progressRow(page, host).getByRole('progressbar')).toHaveAttribute(
			'aria-valuenow',
			/^(49|50)$/
		);
	}
	await expect(page.getByTestId('task-bytes')).toBeVisible();
	await snap(page, 'operations-pull-running');

	// They finish: the models are installed.
	for (const host of hosts) {
		await report(request, host, models);
		await activity(
			request,
			host,
			models.map((m) => step(pull, 'pull', m, 'Succeeded'))
		);
	}
	for (const host of hosts) {
		await expect(progressRow(page, host)).toHaveAttribute('data-phase', 'Succeeded');
		await expect(progressRow(page, host).getByRole('progressbar')).toHaveAttribute(
			'aria-valuenow',
			'100'
		);
	}
	await expect(page.getByTestId('followed-phase')).toHaveText('done');
	for (const host of hosts) {
		const row = page.getByTestId('matrix-row').filter({ hasText: host.name });
		await expect(row).toContainText('installed');
	}
	await snap(page, 'operations-pull-done');

	// The node page shows what its agent did.
	await page.goto(`/nodes/${hosts[0].name}`);
	await expect(page.getByTestId('activity-finished')).toHaveCount(2);
	await snap(page, 'operations-node-activity');

	// The Tasks page lists it; its page has the per-node outcomes.
	await page.goto('/tasks');
	const taskRow = page.locator(`[data-testid="task-row"][data-task="${pull.metadata.name}"]`);
	await expect(taskRow).toContainText('pull');
	await expect(taskRow).toContainText('2/2');
	await snap(page, 'tasks');
	await taskRow.getByRole('link').click();
	await expect(page.getByTestId('task-name')).toHaveText(pull.metadata.name);
	await expect(page.getByTestId('node-progress')).toHaveCount(2);
	await snap(page, 'task-detail');

	// Delete, with one model loaded on the first host: the confirmation warns, naming it.
	await report(request, hosts[0], models, [models[0]]);
	await page.goto('/models');
	await expect(page.getByTestId('matrix-row').filter({ hasText: hosts[0].name })).toContainText(
		'loaded'
	);
	await pickNodes(page, hosts);
	await page.getByTestId('action-delete').click();
	await expect(dialog).toBeVisible();
	await expect(dialog.getByRole('heading')).toHaveText('Delete 2 models?');
	const warning = page.getByTestId('confirm-warning');
	await expect(warning).toContainText('Loaded now on 1 node');
	await expect(warning).toContainText(`${models[0].name}: ${hosts[0].name}`);
	await snap(page, 'operations-delete-confirm');
	await page.getByTestId('confirm-evict').check();
	await page.getByTestId('confirm-start').click();
	await expect(dialog).toBeHidden();
	const del = await followedTask(page, request);
	expect(del.metadata.name).not.toBe(pull.metadata.name);
	for (const host of hosts) {
		await report(request, host, []);
		await activity(request, host, [
			...models.map((m) => step(del, 'delete', m, 'Succeeded')),
			...models.map((m) => step(pull, 'pull', m, 'Succeeded'))
		]);
	}
	await expect(page.getByTestId('followed-phase')).toHaveText('done');
	for (const host of hosts)
		await expect(page.getByTestId('matrix-row').filter({ hasText: host.name })).toHaveCount(0);

	// Keep them on those hosts with a model set, from the selection.
	await page.getByRole('radio', { name: /Label selector/ }).check();
	await page.getByTestId('selector-input').fill('e2e-ops=yes');
	await page.getByTestId('keep-models').click();
	await expect(page.getByTestId('modelset-form')).toBeVisible();
	await expect(page.getByTestId('set-models')).toHaveValue(models.map((m) => m.name).join(', '));
	await expect(page.getByTestId('set-selector')).toHaveValue('e2e-ops=yes');
	await page.getByTestId('set-name').fill('e2e-ops-keep');
	await page.getByTestId('set-save').click();
	await expect(page.getByTestId('modelset-name')).toHaveText('e2e-ops-keep');
	// Nothing installed yet: both hosts miss both models.
	for (const host of hosts) {
		const member = page.locator(`[data-testid="member-row"][data-node="${host.name}"]`);
		await expect(member).toContainText(models[0].name);
	}
	await snap(page, 'modelset-detail');
	await page.goto('/modelsets');
	const setRow = page.locator('[data-testid="modelset-row"][data-set="e2e-ops-keep"]');
	await expect(setRow).toContainText('e2e-ops=yes');
	await snap(page, 'modelsets');

	// Deleting the set asks first.
	await setRow.getByRole('link').click();
	await page.getByTestId('modelset-delete').click();
	await expect(page.getByTestId('delete-set-dialog')).toBeVisible();
	await page.getByTestId('delete-set-confirm').click();
	await expect(page).toHaveURL(/\/modelsets$/);
	await expect(setRow).toHaveCount(0);
});

test('a viewer sees the operations but cannot start them', async ({ page }) => {
	await page.goto('/models');
	await page.locator('[data-testid="model-row"]').first().getByRole('checkbox').check();
	await expect(page.getByTestId('actions-need-role')).toBeVisible();
	await expect(page.getByTestId('action-pull')).toHaveCount(0);
	await page.getByRole('button', { name: 'Clear' }).click();
	await page.goto('/tasks');
	await expect(page.getByRole('heading', { name: 'Tasks', exact: true })).toBeVisible();
	await page.goto('/modelsets');
	await expect(page.getByTestId('new-modelset')).toHaveCount(0);
	const nav = page.getByRole('navigation').first();
	await expect(nav.getByRole('link', { name: 'Model sets' })).toHaveAttribute(
		'aria-current',
		'page'
	);
	await expect(nav.getByRole('link', { name: 'Models', exact: true })).not.toHaveAttribute(
		'aria-current'
	);
});
