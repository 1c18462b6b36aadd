import { createServer, type Server } from 'node:http';
import { expect, test, type Page } from '@playwright/test';
import { adminHeaders, closedUrl, createApiToken, enrollHost, snap } from './support';

// Must show 2: against a real `obt serve` with anonymous read off (the second web server in
// playwright.config.ts), a person signs in with a token, reads, and sees only what the role may
// do; the sign-in lands in the audit trail; a cross-site form POST riding on the session cookie
// is refused and changes nothing.

let standalone = '';

test.beforeAll(async ({ request }) => {
	const seeded = await request.post(closedUrl('/api/v1/admin/seed'), {
		headers: adminHeaders(),
		data: { prefix: 'e2e-closed', count: 3, models: 4 }
	});
	expect(seeded.status(), await seeded.text()).toBe(200);
	standalone = await enrollHost(request, 'e2e-closed-desk', closedUrl());
});

async function signIn(page: Page, token: string): Promise<void> {
	await page.getByTestId('signin-token').fill(token);
	await page.getByTestId('signin-submit').click();
}

test('a viewer signs in, reads, sees no admin action, and signs out', async ({ page, request }) => {
	const viewer = await createApiToken(request, 'viewer', closedUrl());
	// Without a session the dashboard cannot read: it sends the person to /signin, keeping the path.
	await page.goto(closedUrl(`/nodes/${standalone}`));
	await expect(page).toHaveURL(/\/signin\?next=/);
	expect(new URL(page.url()).searchParams.get('next')).toBe(`/nodes/${standalone}`);
	await signIn(page, 'obt_nottoken.wrong');
	await expect(page.getByTestId('error-alert')).toContainText('Could not sign in');
	await signIn(page, viewer.token);

	// Back where it was asked for, reading, as the viewer.
	await expect(page).toHaveURL(closedUrl(`/nodes/${standalone}`));
	await expect(page.getByTestId('node-name')).toHaveText(standalone);
	await expect(page.getByTestId('whoami-role')).toHaveText('viewer');
	await expect(page.getByTestId('whoami')).toContainText('e2e viewer');
	await expect(page.getByTestId('remove-host')).toHaveCount(0);
	await expect(page.getByRole('link', { name: 'Audit' })).toHaveCount(0);
	await page.goto(closedUrl('/'));
	await expect(page.getByTestId('node-row').first()).toBeVisible();
	await snap(page, 'signin-viewer-fleet');

	// Signing out ends the session: reads send the person to /signin again.
	await page.getByTestId('signout').click();
	await expect(page).toHaveURL(closedUrl('/signin'));
	await expect(page.getByTestId('whoami')).toHaveCount(0);
	await page.goto(closedUrl('/models'));
	await expect(page).toHaveURL(/\/signin\?next=%2Fmodels/);

	// An admin signs in and finds the viewer's sign-in in the audit trail.
	await signIn(page, process.env.OBT_E2E_ADMIN_TOKEN ?? '');
	await expect(page).toHaveURL(closedUrl('/models'));
	await expect(page.getByTestId('whoami-role')).toHaveText('admin');
	await page.goto(closedUrl(`/nodes/${standalone}`));
	await expect(page.getByTestId('remove-host')).toBeVisible();
	await page.getByRole('link', { name: 'Audit' }).click();
	await expect(page).toHaveURL(closedUrl('/audit'));
	await page.getByTestId('audit-actor').fill(viewer.id);
	await page.getByTestId('audit-action').fill('createSession');
	await page.getByTestId('audit-apply').click();
	const row = page.getByTestId('audit-row').first();
	await expect(row).toContainText('createSession');
	await expect(row).toContainText(`tokenId=${viewer.id}`);
	await expect(row).toContainText('200');
	await expect(row).not.toContainText(viewer.token.split('.')[1]);
	// The viewer's sign-out is there too, and the failed sign-in (401) under 4xx.
	await page.getByTestId('audit-actor').fill('');
	await page.getByTestId('audit-action').fill('');
	await page.getByTestId('audit-outcome').selectOption('4xx');
	await page.getByTestId('audit-apply').click();
	await expect(page.getByTestId('audit-action-cell').first()).toHaveText('createSession');
	await snap(page, 'signin-admin-audit');

	// The admin removes the standalone host from its page: a state-changing call made by the
	// dashboard with the session cookie, so it carries the CSRF header, and it is recorded.
	await page.goto(closedUrl(`/nodes/${standalone}`));
	await page.getByTestId('remove-host').click();
	await expect(page.getByTestId('remove-host-dialog')).toBeVisible();
	await page.getByTestId('remove-host-confirm').click();
	await expect(page.getByTestId('error-alert')).toContainText('removed from the inventory');
	const gone = await request.get(closedUrl(`/api/v1/nodes/${standalone}`), {
		headers: adminHeaders()
	});
	expect(gone.status()).toBe(404);
	await page.goto(closedUrl('/audit'));
	await page.getByTestId('audit-action').fill('decommissionNode');
	await page.getByTestId('audit-apply').click();
	await expect(page.getByTestId('audit-row').first()).toContainText(`name=${standalone}`);
	await expect(page.getByTestId('audit-row').first()).toContainText('204');
});

test('a cross-site form POST with the session cookie is refused and changes nothing', async ({
	page,
	request
}) => {
	const tokensBefore = await request.get(closedUrl('/api/v1/tokens'), { headers: adminHeaders() });
	expect(tokensBefore.status()).toBe(200);
	const before = (await tokensBefore.json()).length;

	// An admin is signed in on the dashboard (cookie obt_session in this browser).
	await page.goto(closedUrl('/signin'));
	await signIn(page, process.env.OBT_E2E_ADMIN_TOKEN ?? '');
	await expect(page.getByTestId('whoami-role')).toHaveText('admin');

	// Another origin (same host, another port: the browser sends the SameSite cookie along)
	// serves a page whose form posts to the API.
	const target = closedUrl('/api/v1/tokens');
	const evil: Server = createServer((_req, res) => {
		res.writeHead(200, { 'content-type': 'text/html' });
		res.end(
			`<!doctype html><html lang="en"><title>elsewhere</title><form method="post" action="${target}" enctype="text/plain">` +
				`<input name='{"role":"admin","x":"' value='"}'><button>go</button></form></html>`
		);
	});
	await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
	try {
		const address = evil.address();
		const port = typeof address === 'object' && address ? address.port : 0;
		await page.goto(`http://127.0.0.1:${port}/`);
		const [response] = await Promise.all([
			page.waitForResponse((r) => r.url() === target && r.request().method() === 'POST'),
			page.getByRole('button', { name: 'go' }).click()
		]);
		expect(response.status()).toBe(403);
		expect(await response.text()).toContain('CSRF check failed');
		// The browser did send the session cookie: the CSRF check, not a missing login, refused it.
		expect((await response.request().allHeaders())['cookie'] ?? '').toContain('obt_session=');
	} finally {
		await new Promise((resolve) => evil.close(resolve));
	}
	const tokensAfter = await request.get(closedUrl('/api/v1/tokens'), { headers: adminHeaders() });
	expect((await tokensAfter.json()).length).toBe(before);
});
