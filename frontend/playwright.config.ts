import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { defineConfig } from '@playwright/test';

// The suite runs against a real `obt serve` (API + built dashboard + SQLite) on a free port.
// The config is evaluated again in every worker: the port and admin token go through the
// environment so that all processes agree on them.
async function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.unref();
		server.on('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const address = server.address();
			const port = typeof address === 'object' && address ? address.port : 0;
			server.close(() => resolve(port));
		});
	});
}

process.env.OBT_E2E_PORT ??= String(await freePort());
process.env.OBT_E2E_ADMIN_TOKEN ??= `e2e-${randomBytes(16).toString('hex')}`;
// A second `obt serve` with anonymous read off, for the sign-in tests (e2e/signin.spec.ts).
process.env.OBT_E2E_CLOSED_PORT ??= String(await freePort());
const port = Number(process.env.OBT_E2E_PORT);
const baseURL = `http://127.0.0.1:${port}`;
const closedPort = Number(process.env.OBT_E2E_CLOSED_PORT);

// Debian's chromium: Playwright's own browser download cannot reach its hosts here
// (scripts/install-chromium.sh installs it; the /usr/bin/chromium wrapper misbehaves headless).
export const CHROMIUM = process.env.OBT_CHROMIUM ?? '/usr/lib/chromium/chromium';
export const CHROMIUM_ARGS = [
	'--headless',
	'--no-sandbox',
	'--disable-gpu',
	'--disable-quic',
	'--no-first-run',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync'
];

export default defineConfig({
	testDir: './e2e',
	outputDir: './test-results/artifacts',
	// One server, one database: tests that post changes must not race each other.
	workers: 1,
	fullyParallel: false,
	retries: 0,
	// A stray test.only must not silently skip the rest of the suite in CI.
	forbidOnly: !!process.env.CI,
	timeout: 60_000,
	expect: { timeout: 15_000 },
	reporter: [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]],
	use: {
		baseURL,
		browserName: 'chromium',
		colorScheme: 'dark',
		viewport: { width: 1440, height: 900 },
		trace: 'retain-on-failure',
		screenshot: 'only-on-failure',
		launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS }
	},
	webServer: [
		{
			command: 'node e2e/start-server.mjs',
			url: `${baseURL}/healthz`,
			reuseExistingServer: false,
			timeout: 120_000,
			stdout: 'pipe',
			stderr: 'pipe',
			env: {
				OBT_E2E_PORT: String(port),
				OBT_E2E_ADMIN_TOKEN: process.env.OBT_E2E_ADMIN_TOKEN
			}
		},
		{
			// Closed like `obt api` or a non-loopback `obt serve`: sign-in is required.
			command: 'node e2e/start-server.mjs',
			url: `http://127.0.0.1:${closedPort}/healthz`,
			reuseExistingServer: false,
			timeout: 120_000,
			stdout: 'pipe',
			stderr: 'pipe',
			env: {
				OBT_E2E_PORT: String(closedPort),
				OBT_E2E_ADMIN_TOKEN: process.env.OBT_E2E_ADMIN_TOKEN,
				OBT_E2E_DATA_DIR: 'test-results/obt-data-closed',
				OBT_API__AUTH__ANONYMOUS_READ: 'false'
			}
		}
	]
});
