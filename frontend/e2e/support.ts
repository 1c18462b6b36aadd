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
