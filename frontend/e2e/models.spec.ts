import { expect, test } from '@playwright/test';
import { apiJson, seed, snap } from './support';

type ModelPage = {
	total: number;
	items: { name: string; nodeCount: number; loadedCount: number }[];
};

test.beforeAll(async ({ request }) => {
	await seed(request, 'e2e-models', 8);
});

test('the catalogue lists models and a multi-select shows where they are', async ({
	page,
	request
}) => {
	const catalogue = await apiJson<ModelPage>(request, '/api/v1/models?sort=-nodes&limit=5');
	const [first, second] = catalogue.items;

	await page.goto('/models');
	await expect(page.getByTestId('model-row').first()).toBeVisible();
	await page.getByRole('searchbox', { name: 'Search models' }).fill(first.name);
	const row = page.locator(`[data-model="${first.name}"]`).first();
	await expect(row).toBeVisible();
	await row.getByRole('checkbox').check();

	await page.getByRole('searchbox', { name: 'Search models' }).fill(second.name);
	await page.locator(`[data-model="${second.name}"]`).first().getByRole('checkbox').check();

	const matrix = page.getByTestId('model-matrix');
	await expect(matrix).toBeVisible();
	await expect(matrix.locator('th')).toHaveCount(3); // node + the two models
	const detail = await apiJson<{ nodes: string[] }>(
		request,
		`/api/v1/models/${encodeURIComponent(first.name)}`
	);
	await expect(page.getByTestId('matrix-row').first()).toBeVisible();
	expect(await page.getByTestId('matrix-row').count()).toBeGreaterThanOrEqual(detail.nodes.length);

	await page.getByRole('searchbox', { name: 'Search models' }).fill('');
	await expect(page.getByTestId('model-row').nth(1)).toBeVisible();
	await snap(page, 'models-dark');
	await page.getByRole('button', { name: 'Clear' }).click();
	await expect(page.getByTestId('model-matrix')).toHaveCount(0);
});
