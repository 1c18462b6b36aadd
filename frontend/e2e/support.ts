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
