// Starts a real `obt serve` for the Playwright suite: 127.0.0.1 on OBT_E2E_PORT, a fresh data
// directory under test-results/ (or OBT_E2E_DATA_DIR, relative to frontend/), demo mode and the admin token the tests seed with, and the dashboard from
// build/ (the API serves frontend/build when present; run `pnpm run build` first).
// OBT_E2E_SERVE may name another command (placeholders {port} and {dataDir}) to debug against.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const frontend = resolve(here, '..');
const repo = resolve(frontend, '..');
const port = process.env.OBT_E2E_PORT;
const token = process.env.OBT_E2E_ADMIN_TOKEN;
if (!port || !token) {
	console.error(
		'start-server: OBT_E2E_PORT and OBT_E2E_ADMIN_TOKEN must be set (playwright.config.ts sets them)'
	);
	process.exit(2);
}
if (!existsSync(join(frontend, 'build', 'index.html'))) {
	console.error(
		'start-server: frontend/build is missing; run `pnpm run build` before `pnpm run test:e2e`'
	);
	process.exit(2);
}

const dataDir = process.env.OBT_E2E_DATA_DIR
	? resolve(frontend, process.env.OBT_E2E_DATA_DIR)
	: join(frontend, 'test-results', 'obt-data');
rmSync(dataDir, { recursive: true, force: true });
mkdirSync(dataDir, { recursive: true });

const venvObt = join(repo, '.venv', 'bin', 'obt');
const template =
	process.env.OBT_E2E_SERVE ??
	`${existsSync(venvObt) ? venvObt : 'obt'} serve --demo --host 127.0.0.1 --port {port} --data-dir {dataDir}`;
const argv = template.replaceAll('{port}', port).replaceAll('{dataDir}', dataDir).split(/\s+/);

const child = spawn(argv[0], argv.slice(1), {
	cwd: repo,
	stdio: 'inherit',
	env: {
		...process.env,
		OBT_API__ADMIN_TOKEN: token,
		// The tests seed fake nodes; also for an OBT_E2E_SERVE command without --demo.
		OBT_API__DEMO: 'true',
		// Every request of the suite comes from 127.0.0.1: no per-address limit in tests.
		OBT_API__RATE_LIMIT__PER_IP_PER_MINUTE: '0',
		OBT_API__RATE_LIMIT__PER_TOKEN_PER_MINUTE: '0',
		// operations.spec enrolls two hosts back to back (the default allows one per 6 s).
		OBT_API__RATE_LIMIT__ENROLL_PER_IP_PER_MINUTE: '0'
	}
});
console.log(`start-server: ${argv.join(' ')} (pid ${child.pid})`);

const stop = () => {
	if (child.exitCode === null) child.kill('SIGTERM');
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('exit', stop);
child.on('exit', (code, signal) => {
	console.log(`start-server: obt serve exited (${signal ?? code})`);
	process.exit(code ?? 0);
});
