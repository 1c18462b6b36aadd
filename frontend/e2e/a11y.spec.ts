import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import {
	adminHeaders,
	apiJson,
	benchActivity,
	benchResult,
	enrollBenchHost,
	seed,
	snap,
	type Bench
} from './support';

// Every page passes axe-core's WCAG 2.1 A/AA rules, in the dark theme (the default) and in
// light. Nothing is disabled: a failure lists each rule with the elements it flagged.
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const PREFIX = 'e2e-a11y';
const THEMES = ['dark', 'light'] as const;

async function useTheme(page: Page, theme: (typeof THEMES)[number]) {
	await page.addInitScript((t) => localStorage.setItem('obt-theme', t), theme);
}

async function expectNoViolations(page: Page, name: string) {
	await snap(page, `a11y-${name}`);
	const results = await new AxeBuilder({ page }).withTags(TAGS).analyze();
	const found = results.violations.map((v) => ({
		rule: v.id,
		impact: v.impact,
		elements: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary ?? ''}`)
	}));
	expect(found, `axe-core WCAG 2.1 A/AA violations on ${name}`).toEqual([]);
}

let removedName = '';
let taskName = '';
const SET_NAME = 'e2e-a11y-set';
const BENCH_NAME = 'e2e-a11y-bench';

test.beforeAll(async ({ request }) => {
	const names = await seed(request, PREFIX, 6);
	// A task and a model set, so the Tasks and Model sets pages have rows and detail to check.
	const models = await apiJson<{ items: { name: string }[] }>(
		request,
		'/api/v1/models?sort=-nodes&limit=2'
	);
	const task = await request.post('/api/v1/tasks', {
		headers: adminHeaders(),
		data: {
			spec: {
				action: 'pull',
				models: models.items.map((m) => ({ name: m.name })),
				nodes: names.slice(0, 2)
			}
		}
	});
	expect(task.status(), await task.text()).toBe(201);
	taskName = (await task.json()).metadata.name;
	const set = await request.post('/api/v1/modelsets', {
		headers: adminHeaders(),
		data: {
			metadata: { name: SET_NAME },
			spec: { models: [{ name: models.items[0].name }], nodeSelector: {} }
		}
	});
	expect(set.status(), await set.text()).toBe(201);
	// A benchmark with results (and a pair skipped as DoesNotFit), so the Benchmarks pages have
	// rows, the chart and the matrix to check.
	const hosts = [
		await enrollBenchHost(request, 'e2e-a11y-bench-1', 'NVIDIA GeForce RTX 4090'),
		await enrollBenchHost(request, 'e2e-a11y-bench-2', 'NVIDIA RTX A6000')
	];
	const benchModels = ['e2e-a11y-m:3b', 'e2e-a11y-m:7b'];
	const created = await request.post('/api/v1/benchmarks', {
		headers: adminHeaders(),
		data: {
			metadata: { name: BENCH_NAME },
			spec: { models: benchModels.map((name) => ({ name })), nodes: hosts.map((h) => h.name) }
		}
	});
	expect(created.status(), await created.text()).toBe(201);
	const bench = (await created.json()) as Bench;
	await benchResult(request, hosts[0], bench, benchModels[0], 110, 4000);
	await benchResult(request, hosts[1], bench, benchModels[0], 75, 2900);
	await benchResult(request, hosts[0], bench, benchModels[1], 55, 2000);
	await benchActivity(request, hosts[1], bench, benchModels[1], 'Skipped', 'DoesNotFit');
	// One of them removed, so the fleet page shows its "Recently removed" section.
	removedName = names[names.length - 1];
	const removed = await request.delete(`/api/v1/admin/nodes/${removedName}`, {
		headers: adminHeaders()
	});
	expect(removed.status(), await removed.text()).toBe(204);
});

for (const theme of THEMES) {
	test.describe(`${theme} theme`, () => {
		test.beforeEach(async ({ page }) => useTheme(page, theme));

		test('the fleet page, with a recently removed node, has no WCAG A/AA violation', async ({
			page
		}) => {
			await page.goto('/');
			await expect(page.getByTestId('node-row').first()).toBeVisible();
			await expect(page.getByTestId('phase-chart')).toBeVisible();
			await expect(
				page.locator(`[data-testid="removed-row"][data-node="${removedName}"]`)
			).toBeVisible();
			await expect(page.locator('html')).toHaveClass(theme === 'dark' ? /dark/ : /^(?!.*dark)/);
			await expectNoViolations(page, `fleet-${theme}`);
		});

		test('a node page has no WCAG A/AA violation', async ({ page }) => {
			await page.goto(`/nodes/${PREFIX}-00000`);
			await expect(page.getByTestId('node-name')).toHaveText(`${PREFIX}-00000`);
			await expectNoViolations(page, `node-${theme}`);
		});

		test('the models page, with a selection matrix, has no WCAG A/AA violation', async ({
			page,
			request
		}) => {
			const catalogue = await apiJson<{ items: { name: string }[] }>(
				request,
				'/api/v1/models?sort=-nodes&limit=2'
			);
			await page.goto('/models');
			await expect(page.getByTestId('model-row').first()).toBeVisible();
			for (const model of catalogue.items) {
				await page.locator(`[data-model="${model.name}"]`).first().getByRole('checkbox').check();
			}
			await expect(page.getByTestId('matrix-row').first()).toBeVisible();
			await expectNoViolations(page, `models-${theme}`);
			await page.getByRole('button', { name: 'Clear' }).click();
		});

		test('the tasks page and a task page have no WCAG A/AA violation', async ({ page }) => {
			await page.goto('/tasks');
			await expect(page.locator(`[data-testid="task-row"][data-task="${taskName}"]`)).toBeVisible();
			await expectNoViolations(page, `tasks-${theme}`);
			await page.goto(`/tasks/${taskName}`);
			await expect(page.getByTestId('task-name')).toHaveText(taskName);
			await expect(page.getByTestId('node-progress').first()).toBeVisible();
			await expectNoViolations(page, `task-${theme}`);
		});

		test('the model sets page and a model set page have no WCAG A/AA violation', async ({
			page
		}) => {
			await page.goto('/modelsets');
			await expect(
				page.locator(`[data-testid="modelset-row"][data-set="${SET_NAME}"]`)
			).toBeVisible();
			await expectNoViolations(page, `modelsets-${theme}`);
			await page.goto(`/modelsets/${SET_NAME}`);
			await expect(page.getByTestId('modelset-name')).toHaveText(SET_NAME);
			await expectNoViolations(page, `modelset-${theme}`);
		});

		test('the benchmarks page and a benchmark page have no WCAG A/AA violation', async ({
			page
		}) => {
			await page.goto('/benchmarks');
			await expect(page.getByTestId('benchmark-row').first()).toBeVisible();
			await expect(page.getByTestId('bench-matrix')).toBeVisible();
			await expect(page.getByTestId('bench-chart-tg')).toBeVisible();
			await page.getByTestId('matrix-cell').getByRole('button').first().click();
			await expect(page.getByTestId('history-chart')).toBeVisible();
			await expectNoViolations(page, `benchmarks-${theme}`);
			await page.goto(`/benchmarks/${BENCH_NAME}`);
			await expect(page.getByTestId('bench-outcome')).toHaveCount(4);
			await expect(page.getByTestId('bench-outcomes')).toContainText('DoesNotFit');
			await expectNoViolations(page, `benchmark-${theme}`);
		});

		test('the models page for an operator, with the confirmation open, has no WCAG A/AA violation', async ({
			page,
			request
		}) => {
			const signedIn = await page.request.post('/api/v1/auth/session', {
				data: { token: process.env.OBT_E2E_ADMIN_TOKEN }
			});
			expect(signedIn.status(), await signedIn.text()).toBe(200);
			const catalogue = await apiJson<{ items: { name: string }[] }>(
				request,
				'/api/v1/models?sort=-nodes&limit=1'
			);
			await page.goto('/models');
			await page
				.locator(`[data-model="${catalogue.items[0].name}"]`)
				.first()
				.getByRole('checkbox')
				.check();
			await page.getByRole('searchbox', { name: 'Search nodes to act on' }).fill(`${PREFIX}-00000`);
			await page.getByRole('checkbox', { name: `Act on ${PREFIX}-00000` }).check();
			await expectNoViolations(page, `models-operator-${theme}`);
			await page.getByTestId('action-unload').click();
			await expect(page.getByTestId('confirm-action')).toBeVisible();
			await expectNoViolations(page, `models-confirm-${theme}`);
			await page.getByRole('button', { name: 'Cancel' }).click();
			await page.getByRole('button', { name: 'Clear' }).click();
		});

		test('a page for an unknown node (the error page) has no WCAG A/AA violation', async ({
			page
		}) => {
			await page.goto('/nodes/no-such-node');
			await expect(page.getByTestId('error-alert')).toBeVisible();
			await expectNoViolations(page, `not-found-${theme}`);
		});

		test('an unknown path has no WCAG A/AA violation', async ({ page }) => {
			await page.goto('/no/such/page');
			await expect(page.locator('h1')).toBeVisible();
			await expectNoViolations(page, `404-${theme}`);
		});

		test('the sign-in page, with an error, has no WCAG A/AA violation', async ({ page }) => {
			await page.goto('/signin?next=%2Fmodels');
			await page.getByTestId('signin-token').fill('obt_nosuch.token');
			await page.getByTestId('signin-submit').click();
			await expect(page.getByTestId('error-alert')).toBeVisible();
			await expectNoViolations(page, `signin-${theme}`);
		});

		test('the audit page, signed in as an admin, has no WCAG A/AA violation', async ({ page }) => {
			const signedIn = await page.request.post('/api/v1/auth/session', {
				data: { token: process.env.OBT_E2E_ADMIN_TOKEN }
			});
			expect(signedIn.status(), await signedIn.text()).toBe(200);
			await page.goto('/audit');
			await expect(page.getByTestId('audit-row').first()).toBeVisible();
			await expect(page.getByTestId('whoami-role')).toHaveText('admin');
			await expectNoViolations(page, `audit-${theme}`);
			await page.getByTestId('signout').click();
			await expect(page).toHaveURL(/\/signin$/);
		});
	});
}
