import { expect, test, type Page } from '@playwright/test';
import { adminHeaders, seed } from './support';

// The dashboard under the API's Content-Security-Policy (only its own scripts and styles, the
// shell's inline parts by hash): every page renders with Flowbite/Tailwind styles and Chart.js,
// and the browser reports no violation. Live events resume across a dropped connection.

const PREFIX = 'e2e-sec';

async function collectViolations(page: Page): Promise<string[]> {
	const violations: string[] = [];
	page.on('console', (message) => {
		if (/Content[- ]Security[- ]Policy/i.test(message.text())) violations.push(message.text());
	});
	await page.exposeFunction('__reportCspViolation', (text: string) => violations.push(text));
	await page.addInitScript(() => {
		document.addEventListener('securitypolicyviolation', (e) => {
			const report = (window as unknown as { __reportCspViolation: (t: string) => void })
				.__reportCspViolation;
			report(`${e.violatedDirective} blocked ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`);
		});
	});
	return violations;
}

test.beforeAll(async ({ request }) => {
	await seed(request, PREFIX, 3);
});

test('every page loads under the Content-Security-Policy with no violation', async ({ page }) => {
	const violations = await collectViolations(page);
	const response = await page.goto('/');
	const csp = response?.headers()['content-security-policy'] ?? '';
	expect(csp).toContain("script-src 'self'");
	expect(csp).not.toContain('unsafe-inline');
	expect(response?.headers()['x-frame-options']).toBe('DENY');
	await expect(page.getByTestId('live-indicator')).toHaveAttribute('data-state', 'live');
	await expect(page.getByTestId('summary-cards')).toBeVisible();
	// Chart.js drew its canvas, and Tailwind's stylesheet applies (a styled body background).
	await expect(page.locator('canvas').first()).toBeVisible();
	const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
	expect(background).not.toBe('rgba(0, 0, 0, 0)');
	await page.goto(`/nodes/${PREFIX}-00000`);
	await expect(page.getByTestId('node-name')).toHaveText(`${PREFIX}-00000`);
	await page.goto('/benchmarks');
	await expect(page.getByRole('heading', { name: 'Benchmarks', level: 1 })).toBeVisible();
	await page.goto('/models');
	await expect(page.locator('main')).toBeVisible();
	await page.waitForLoadState('networkidle').catch(() => undefined);
	expect(violations).toEqual([]);
});

test('after a dropped live connection the page catches up on what it missed', async ({
	page,
	request
}) => {
	const eventRequests: string[] = [];
	page.on('request', async (r) => {
		if (r.url().endsWith('/api/v1/events'))
			eventRequests.push((await r.allHeaders())['last-event-id'] ?? 'none');
	});
	await page.goto('/');
	await expect(page.getByTestId('live-indicator')).toHaveAttribute('data-state', 'live');
	await page.getByRole('searchbox', { name: 'Search nodes' }).fill('e2e-resume');
	await expect(page.getByTestId('node-row')).toHaveCount(0);
	// One event so that the browser holds an id, then the connection drops and reconnects are
	// refused until the changes below happen.
	await seed(request, 'e2e-resume-a', 1);
	await expect(page.getByTestId('node-row')).toHaveCount(1);
	await page.route('**/api/v1/events', (route) => route.abort('connectionreset'));
	const drop = await request.post('/api/v1/admin/events/drop', { headers: adminHeaders() });
	expect(drop.status()).toBe(204);
	await expect(page.getByTestId('live-indicator')).toHaveAttribute('data-state', 'reconnecting');
	await seed(request, 'e2e-resume-b', 1);
	await seed(request, 'e2e-resume-c', 1);
	await page.unroute('**/api/v1/events');
	await expect(page.getByTestId('live-indicator')).toHaveAttribute('data-state', 'live', {
		timeout: 30_000
	});
	await expect(page.getByTestId('node-row')).toHaveCount(3);
	// The browser resumed with the id of the last event it had.
	expect(eventRequests.at(-1), JSON.stringify(eventRequests)).toMatch(/^[0-9a-f]+-\d+$/);
});
