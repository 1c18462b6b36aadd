import { expect, test } from '@playwright/test';
import { apiJson, searchFleet, seed, snap } from './support';

type Page = { total: number; items: { name: string; gpuSummary: string; loadedCount: number }[] };

const PREFIX = 'e2e-fleet';
const COUNT = 24;

test.beforeAll(async ({ request }) => {
	await seed(request, PREFIX, COUNT);
});

test('the fleet table lists the seeded nodes, with summary cards and a live indicator', async ({
	page
}) => {
	await page.goto('/');
	await expect(page.getByTestId('live-indicator')).toHaveAttribute('data-state', 'live');
	await expect(page.getByTestId('summary-cards')).toBeVisible();
	await expect(page.getByTestId('card-gpus')).toContainText(/\d+/);
	await searchFleet(page, PREFIX);
	await expect(page.getByTestId('node-row')).toHaveCount(COUNT);
	await expect(page.locator(`[data-node="${PREFIX}-00000"]`)).toBeVisible();
	await expect(page.getByTestId('pager-range')).toHaveText(`1–${COUNT} of ${COUNT}`);
	await searchFleet(page, '');
	await expect(page.getByTestId('node-row').first()).toBeVisible();
	await snap(page, 'fleet-dark');
});

test('search and filters narrow the table to what the API matches', async ({ page, request }) => {
	await page.goto('/');
	await searchFleet(page, `${PREFIX}-00003`);
	await expect(page.getByTestId('node-row')).toHaveCount(1);
	await expect(page.getByTestId('node-row')).toHaveAttribute('data-node', `${PREFIX}-00003`);

	// GPU vendor: the same count the API reports for the same query, and only that vendor.
	await searchFleet(page, PREFIX);
	await expect(page.getByTestId('node-row')).toHaveCount(COUNT);
	await page.getByLabel('Filter by GPU vendor').selectOption('amd');
	const amd = await apiJson<Page>(
		request,
		`/api/v1/nodes?search=${PREFIX}&gpuVendor=amd&limit=500`
	);
	expect(amd.total).toBeGreaterThan(0);
	expect(amd.total).toBeLessThan(COUNT);
	await expect(page.getByTestId('node-row')).toHaveCount(amd.total);
	for (const summary of await page.getByTestId('gpu-summary').allInnerTexts()) {
		expect(summary).toMatch(/MI300X|7900 XTX/);
	}

	// Has model: pick a model one of the nodes has, and compare with the API.
	await page.getByLabel('Filter by GPU vendor').selectOption('');
	const detail = await apiJson<{ models: { name: string }[] }>(
		request,
		`/api/v1/nodes/${PREFIX}-00001`
	);
	const model = detail.models[0].name;
	await page.getByLabel('Has model').fill(model);
	const withModel = await apiJson<Page>(
		request,
		`/api/v1/nodes?search=${PREFIX}&hasModel=${encodeURIComponent(model)}&limit=500`
	);
	await expect(page.getByTestId('node-row')).toHaveCount(withModel.total);
	await expect(page.locator(`[data-node="${PREFIX}-00001"]`)).toBeVisible();

	// Phase: every seeded node is Ready, so NotReady leaves nothing, with a hint what to do.
	await page.getByLabel('Has model').fill('');
	await page.getByLabel('Filter by phase').selectOption('NotReady');
	await expect(page.getByTestId('empty-state')).toContainText('No node matches');
	await expect(page.getByTestId('node-row')).toHaveCount(0);
});

test('search, filters and sort are kept in the URL across a reload', async ({ page }) => {
	await page.goto('/');
	await searchFleet(page, PREFIX);
	await page.getByLabel('Filter by GPU vendor').selectOption('nvidia');
	await page.getByRole('button', { name: /^Node/ }).click();
	await expect(page).toHaveURL(/search=e2e-fleet&gpuVendor=nvidia&sort=-name/);
	const shown = await page
		.getByTestId('node-row')
		.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-node')));
	expect(shown.length).toBeGreaterThan(0);
	await page.reload();
	await expect(page.getByRole('searchbox', { name: 'Search nodes' })).toHaveValue(PREFIX);
	await expect(page.getByLabel('Filter by GPU vendor')).toHaveValue('nvidia');
	await expect(page.getByTestId('node-row')).toHaveCount(shown.length);
	expect(
		await page
			.getByTestId('node-row')
			.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-node')))
	).toEqual(shown);
});

test('sorting by a column reorders rows on the server', async ({ page }) => {
	await page.goto('/');
	await searchFleet(page, PREFIX);
	await expect(page.getByTestId('node-row')).toHaveCount(COUNT);
	await page.getByRole('button', { name: /^Node/ }).click();
	await expect(page.getByTestId('node-row').first()).toHaveAttribute(
		'data-node',
		`${PREFIX}-000${COUNT - 1}`
	);
});

test('a change posted through the API appears on the open page without a reload', async ({
	page,
	request
}) => {
	await page.goto('/');
	await expect(page.getByTestId('live-indicator')).toHaveAttribute('data-state', 'live');
	await searchFleet(page, PREFIX);
	await expect(page.getByTestId('node-row')).toHaveCount(COUNT);
	// A marker on window survives only if the page is never reloaded.
	await page.evaluate(() => ((window as unknown as { __marker: number }).__marker = 42));

	const before = await apiJson<Page>(request, `/api/v1/nodes?search=${PREFIX}&limit=500`);
	await seed(request, PREFIX, COUNT, 1); // variant 1: different models loaded
	const after = await apiJson<Page>(request, `/api/v1/nodes?search=${PREFIX}&limit=500`);
	const changed = after.items.find(
		(n) => n.loadedCount !== before.items.find((b) => b.name === n.name)?.loadedCount
	);
	expect(changed, 'seeding variant 1 changes some loaded count').toBeTruthy();

	const row = page.locator(`[data-node="${changed!.name}"]`);
	await expect(row.getByTestId('loaded-count')).toHaveText(String(changed!.loadedCount));
	expect(await page.evaluate(() => (window as unknown as { __marker: number }).__marker)).toBe(42);
	await seed(request, PREFIX, COUNT, 0); // back as it was for other tests
});

test('the theme toggle switches to light and the choice survives a reload', async ({ page }) => {
	await page.goto('/');
	await expect(page.locator('html')).toHaveClass(/dark/);
	await page.getByTestId('theme-toggle').click();
	await expect(page.locator('html')).not.toHaveClass(/dark/);
	await page.reload();
	await expect(page.getByTestId('node-row').first()).toBeVisible();
	await expect(page.locator('html')).not.toHaveClass(/dark/);
	await snap(page, 'fleet-light');
	await page.getByTestId('theme-toggle').click();
	await expect(page.locator('html')).toHaveClass(/dark/);
});

test('on a phone the cards stack, secondary columns hide and the table scrolls sideways', async ({
	page
}) => {
	await page.setViewportSize({ width: 390, height: 844 });
	await page.goto(`/?search=${PREFIX}`);
	const row = page.locator(`[data-node="${PREFIX}-00002"]`);
	await expect(row.getByRole('link', { name: `${PREFIX}-00002` })).toBeVisible();
	await expect(row.getByTestId('gpu-summary')).toBeVisible();
	await expect(row.getByTestId('loaded-count')).toBeVisible();
	await expect(page.getByRole('columnheader', { name: 'OS' })).toBeHidden();
	// Names stay on one line; what does not fit scrolls inside the table, not the page.
	const nameCell = row.getByRole('cell').first();
	expect((await nameCell.boundingBox())!.height).toBeLessThan(50);
	expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
	await expect(page.getByTestId('live-indicator')).toBeVisible();
	await snap(page, 'fleet-phone');
});
