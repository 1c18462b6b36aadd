#!/usr/bin/env node
// Dashboard benchmark: production bundle size (gzip) and the time to render the fleet table
// with 5,000 nodes, in Debian's chromium against a real `obt serve` seeded with 5,000 nodes.
//
//   cd frontend && pnpm run build && pnpm run bench        (or: node bench/dashboard.mjs)
//   RUNS=7 NODES=5000 node bench/dashboard.mjs --json out.json
//   node bench/dashboard.mjs --baseline /tmp/old/frontend/build   (another build, side by side)
//   SCENARIOS=paged-50 node bench/dashboard.mjs                   (only the scenarios named)
//
// Scenarios, measured side by side on the same server and data (median of RUNS page loads):
//   paged-50     what the dashboard does: one server page of 50 rows, `total` = 5,000
//   paged-500    the API's largest page (limit=500), same code path
//   all-5000     every node in one table: the real rows, fetched beforehand, answered by
//                page.route in one response, to show the cost that server paging avoids
// Each load reports, timed inside the page (performance.now(), checked at every animation frame,
// so no DevTools round trip is counted):
//   to rows       navigation start -> the rows are in the DOM
//   render        the app has the list's data -> rows in the DOM (the later of the list
//                 response's end and the app's 'obt:list-data' mark, for builds that set it)
//   re-sort       click on the Node header (reversed order) -> reversed rows in the DOM
//   re-sort GPUs  then a click on the GPUs header (an order nobody prefetched) -> rows in order
// each twice: when the rows are in the DOM (checked at an animation frame, before that frame's
// style/layout/paint, as the earlier runs measured), and when that frame has been painted.
// Both clicks come after the page settled (SETTLE_MS, default 1,000 ms after the rows: a person
// reads before clicking), dispatched in the page (element.click()), so Playwright's
// actionability checks are not counted.
// With --baseline DIR a second `obt serve` (same API code, bench/serve_build.py) serves the build
// in DIR, seeded alike, and every scenario is loaded from both, interleaved.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const frontend = join(repo, 'frontend');
const require = createRequire(join(frontend, 'package.json'));
const { chromium } = require('@playwright/test');

const RUNS = Number(process.env.RUNS ?? 5);
const NODES = Number(process.env.NODES ?? 5000);
const arg = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : null);
const jsonOut = arg('--json');
const baselineBuild = arg('--baseline');
const SETTLE_MS = Number(process.env.SETTLE_MS ?? 1000);
const ONLY = process.env.SCENARIOS ? new Set(process.env.SCENARIOS.split(',')) : null;
const CHROMIUM = process.env.OBT_CHROMIUM ?? '/usr/lib/chromium/chromium';
const ARGS = [
	'--headless',
	'--no-sandbox',
	'--disable-gpu',
	'--disable-quic',
	'--no-first-run',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync'
];

function median(values) {
	const s = [...values].sort((a, b) => a - b);
	const m = Math.floor(s.length / 2);
	return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;

// --- bundle size -------------------------------------------------------------------------
function bundle() {
	const build = join(frontend, 'build');
	const files = [];
	const walk = (dir) => {
		for (const name of readdirSync(dir)) {
			const p = join(dir, name);
			if (statSync(p).isDirectory()) walk(p);
			else if (/\.(js|css|html)$/.test(name)) {
				const raw = readFileSync(p);
				files.push({
					file: relative(build, p),
					raw: raw.length,
					gzip: gzipSync(raw, { level: 9 }).length
				});
			}
		}
	};
	walk(build);
	const sum = (list, key) => list.reduce((a, f) => a + f[key], 0);
	const js = files.filter((f) => f.file.endsWith('.js'));
	const css = files.filter((f) => f.file.endsWith('.css'));
	return {
		jsGzip: sum(js, 'gzip'),
		jsRaw: sum(js, 'raw'),
		cssGzip: sum(css, 'gzip'),
		cssRaw: sum(css, 'raw'),
		allGzip: sum(files, 'gzip'),
		largest: [...js].sort((a, b) => b.gzip - a.gzip).slice(0, 3)
	};
}

// --- server ------------------------------------------------------------------------------
async function freePort() {
	return new Promise((ok, fail) => {
		const s = createServer();
		s.on('error', fail);
		s.listen(0, '127.0.0.1', () => {
			const { port } = s.address();
			s.close(() => ok(port));
		});
	});
}

async function startServer(label = 'bench', build = null) {
	const port = await freePort();
	const token = `bench-${randomBytes(12).toString('hex')}`;
	const logDir = join(frontend, 'test-results');
	mkdirSync(logDir, { recursive: true });
	const log = openSync(join(logDir, `${label}-server.log`), 'w'); // the server's own logging
	const serve = build
		? {
				OBT_E2E_SERVE: `${join(repo, '.venv', 'bin', 'python')} ${join(repo, 'bench', 'serve_build.py')} ${resolve(build)} serve --demo --host 127.0.0.1 --port {port} --data-dir {dataDir}`
			}
		: {};
	const child = spawn('node', [join(frontend, 'e2e', 'start-server.mjs')], {
		stdio: ['ignore', log, log],
		env: {
			...process.env,
			...serve,
			OBT_E2E_PORT: String(port),
			OBT_E2E_ADMIN_TOKEN: token,
			OBT_E2E_DATA_DIR: join(frontend, 'test-results', `${label}-data`)
		}
	});
	const base = `http://127.0.0.1:${port}`;
	for (let i = 0; i < 240; i++) {
		if (child.exitCode !== null) throw new Error(`obt serve exited (${child.exitCode}); see frontend/test-results/${label}-server.log`);
		try {
			if ((await fetch(`${base}/healthz`)).ok) return { base, token, child };
		} catch {
			/* not up yet */
		}
		await new Promise((r) => setTimeout(r, 500));
	}
	child.kill('SIGTERM');
	throw new Error('obt serve did not answer /healthz within 120 s');
}

// --- what a first visit loads --------------------------------------------------------------
async function initialLoad(browser, base, expectedRows) {
	const page = await browser.newPage();
	const assets = [];
	page.on('response', async (response) => {
		const url = new URL(response.url());
		if (url.pathname.startsWith('/api/') || !/\.(js|css)$|^\/$/.test(url.pathname)) return;
		assets.push(
			response.body().then((body) => ({
				path: url.pathname,
				raw: body.length,
				gzip: gzipSync(body, { level: 9 }).length
			}))
		);
	});
	await page.goto(base + '/');
	await page.waitForFunction((n) => document.querySelectorAll('[data-testid="node-row"]').length >= n, expectedRows);
	await page.waitForLoadState('networkidle');
	const loaded = await Promise.all(assets);
	await page.close();
	return {
		files: loaded.length,
		raw: loaded.reduce((a, f) => a + f.raw, 0),
		gzip: loaded.reduce((a, f) => a + f.gzip, 0)
	};
}

// --- one page load -----------------------------------------------------------------------
// Resolves, in the page's clock (performance.now()), with `dom`: the first animation frame where
// `check` holds (the rows are in the DOM; that frame's style, layout and paint still to come), and
// `painted`: the end of that frame's rendering (a message posted from the frame callback runs
// after the frame's layout and paint).
async function frameWhen(page, check, arg) {
	return page.evaluate(
		({ check, arg }) =>
			new Promise((ok, fail) => {
				const test = new Function('arg', `return (${check})(arg)`);
				const start = performance.now();
				const tick = () => {
					if (test(arg)) {
						const dom = performance.now();
						const channel = new MessageChannel();
						channel.port1.onmessage = () => ok({ dom, painted: performance.now() });
						channel.port2.postMessage(0);
					} else if (performance.now() - start > 120_000) fail(new Error('rows did not come'));
					else requestAnimationFrame(tick);
				};
				requestAnimationFrame(tick);
			}),
		{ check: check.toString(), arg }
	);
}

const rowsIn = (n) => document.querySelectorAll('[data-testid="node-row"]').length >= n;

// Click a column header inside the page and time it there: click -> `done` holds at a frame.
async function clickAndTime(page, label, done, arg) {
	const t0 = await page.evaluate((label) => {
		const button = [...document.querySelectorAll('th button')].find((b) =>
			b.textContent.trim().startsWith(label)
		);
		const t = performance.now();
		button.click();
		return t;
	}, label);
	const at = await frameWhen(page, done, arg);
	return { dom: at.dom - t0, painted: at.painted - t0 };
}

async function measure(browser, base, expectedRows, route, gpuOrder) {
	const context = await browser.newContext({
		viewport: { width: 1440, height: 900 },
		colorScheme: 'dark'
	});
	const page = await context.newPage();
	if (route) await page.route(/\/api\/v1\/nodes\?/, route);
	await page.goto(base + '/', { waitUntil: 'commit' });
	const rowsAt = await frameWhen(page, rowsIn, expectedRows);
	const result = await page.evaluate((rowsAt) => {
		// The first list request is the one shown (later ones are prefetches of other orders).
		const list = performance
			.getEntriesByType('resource')
			.find((e) => e.name.includes('/api/v1/nodes?'));
		const mark = performance.getEntriesByName('obt:list-data')[0];
		const dataAt = Math.max(list ? list.responseEnd : NaN, mark ? mark.startTime : -Infinity);
		return {
			toRows: rowsAt.dom,
			toRowsPainted: rowsAt.painted,
			render: rowsAt.dom - dataAt,
			renderPainted: rowsAt.painted - dataAt
		};
	}, rowsAt);
	await page.waitForTimeout(SETTLE_MS);
	// Re-sort: every row replaced in place (same count, reversed order).
	const resort = await clickAndTime(
		page,
		'Node',
		(n) => {
			const rows = document.querySelectorAll('[data-testid="node-row"]');
			return rows.length >= n && rows[0].getAttribute('data-node') > rows[rows.length - 1].getAttribute('data-node');
		},
		expectedRows
	);
	await page.waitForTimeout(SETTLE_MS);
	// An order nobody prefetched: the GPUs column, ascending; done when the rows are the names
	// the API gives for that order (fetched by the bench beforehand).
	const cold = await clickAndTime(
		page,
		'GPUs',
		(names) => {
			const rows = document.querySelectorAll('[data-testid="node-row"]');
			return rows.length === names.length && [...rows].every((row, i) => row.getAttribute('data-node') === names[i]);
		},
		gpuOrder
	);
	Object.assign(result, {
		resort: resort.dom,
		resortPainted: resort.painted,
		resortCold: cold.dom,
		resortColdPainted: cold.painted
	});
	await context.close();
	return result;
}

async function main() {
	const loadAtStart = (await import('node:os')).loadavg().map((x) => Math.round(x * 100) / 100);
	const size = bundle();
	console.log('Production bundle (frontend/build, gzip -9):');
	console.log(`  JS   ${kib(size.jsGzip)} gzip (${kib(size.jsRaw)} raw)`);
	console.log(`  CSS  ${kib(size.cssGzip)} gzip (${kib(size.cssRaw)} raw)`);
	console.log(`  all  ${kib(size.allGzip)} gzip (html+js+css)`);
	console.log(`  largest JS chunks: ${size.largest.map((f) => `${f.file} ${kib(f.gzip)}`).join(', ')}`);

	// One server per build (the same API code and seeded data; only the dashboard files differ).
	const builds = [{ name: 'this build', label: 'bench', build: null }];
	if (baselineBuild)
		builds.push({
			name: 'baseline',
			label: 'bench-baseline',
			build: baselineBuild
		});
	const children = [];
	const stop = () => children.forEach((c) => c.exitCode === null && c.kill('SIGTERM'));
	process.on('exit', stop);
	try {
		for (const b of builds) {
			const { base, token, child } = await startServer(b.label, b.build);
			children.push(child);
			b.base = base;
			const t = Date.now();
			const seeded = await fetch(`${base}/api/v1/admin/seed`, {
				method: 'POST',
				headers: {
					authorization: `Bearer ${token}`,
					'content-type': 'application/json'
				},
				body: JSON.stringify({ count: NODES, prefix: 'bench', models: 20 })
			});
			if (!seeded.ok) throw new Error(`seeding failed: ${seeded.status} ${await seeded.text()}`);
			b.total = (await (await fetch(`${base}/api/v1/nodes?limit=1`)).json()).total;
			console.log(
				`\n${b.name}${b.build ? ` (${b.build})` : ''}: seeded ${NODES} nodes through POST /api/v1/admin/seed in ${((Date.now() - t) / 1000).toFixed(1)} s (fleet: ${b.total}).`
			);
		}
		const { base, total } = builds[0];
		if (builds.some((b) => b.total !== total)) throw new Error('the servers hold different fleets');
		const names = async (query) => (await (await fetch(`${base}/api/v1/nodes?${query}`)).json()).items.map((n) => n.name);

		// The real rows for the all-in-one-table scenario.
		const all = [];
		for (let offset = 0; offset < total; offset += 500) {
			all.push(...(await (await fetch(`${base}/api/v1/nodes?limit=500&offset=${offset}`)).json()).items);
		}
		const allBody = JSON.stringify({
			items: all,
			total: all.length,
			limit: all.length,
			offset: 0
		});

		let scenarios = [
			{
				name: 'paged-50',
				rows: Math.min(50, total),
				gpuOrder: await names('sort=gpus&limit=50')
			},
			{
				name: 'paged-500',
				rows: Math.min(500, total),
				gpuOrder: await names('sort=gpus&limit=500'),
				route: (r) => {
					const url = new URL(r.request().url());
					url.searchParams.set('limit', '500');
					return r.continue({ url: url.toString() });
				}
			},
			{
				name: `all-${all.length}`,
				rows: all.length,
				gpuOrder: all.map((n) => n.name), // the route answers every order but -name with allBody
				route: (r) => {
					const url = new URL(r.request().url());
					if (url.searchParams.get('sort') === '-name') {
						const reversed = [...all].reverse();
						return r.fulfill({
							contentType: 'application/json',
							body: JSON.stringify({
								items: reversed,
								total: all.length,
								limit: all.length,
								offset: 0
							})
						});
					}
					return r.fulfill({ contentType: 'application/json', body: allBody });
				}
			}
		];
		if (ONLY) scenarios = scenarios.filter((s) => ONLY.has(s.name) || ONLY.has(s.name.replace(/\d+$/, 'N')));

		const browser = await chromium.launch({
			executablePath: CHROMIUM,
			args: ARGS
		});
		const results = {};
		try {
			for (const b of builds) {
				const first = await initialLoad(browser, b.base, Math.min(50, total)); // also the warm-up
				b.firstVisit = first;
				console.log(
					`${b.name}: first visit to the fleet page loads ${first.files} HTML/JS/CSS files: ${kib(first.gzip)} gzip (${kib(first.raw)} raw) (Chart.js included: in its own chunk or in the one bundle, by build).`
				);
			}
			for (let run = 0; run < RUNS; run++) {
				// Interleaved, so drift on a shared machine hits every scenario and build alike.
				for (const s of scenarios) {
					for (const b of builds) {
						const key = builds.length > 1 ? `${s.name} ${b.name}` : s.name;
						(results[key] ??= []).push(await measure(browser, b.base, s.rows, s.route, s.gpuOrder));
					}
				}
			}
		} finally {
			await browser.close();
		}

		console.log(`\nFleet table, ${total} nodes, Debian chromium headless, median of ${RUNS} loads:`);
		console.log('  scenario                  rows   to rows (ms)   render (ms)   re-sort (ms)   re-sort GPUs (ms)');
		console.log('  (in the DOM at a frame / that frame painted)');
		const summary = {};
		for (const [key, r] of Object.entries(results)) {
			const m = {
				rows: scenarios.find((s) => key === s.name || key.startsWith(`${s.name} `)).rows,
				toRowsMs: median(r.map((x) => x.toRows)),
				renderMs: median(r.map((x) => x.render)),
				resortMs: median(r.map((x) => x.resort)),
				resortColdMs: median(r.map((x) => x.resortCold)),
				painted: {
					toRowsMs: median(r.map((x) => x.toRowsPainted)),
					renderMs: median(r.map((x) => x.renderPainted)),
					resortMs: median(r.map((x) => x.resortPainted)),
					resortColdMs: median(r.map((x) => x.resortColdPainted))
				},
				each: r.map((x) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, Math.round(v * 10) / 10])))
			};
			summary[key] = m;
			const f = (a, b) => `${a.toFixed(0)} / ${b.toFixed(0)}`.padStart(b > 999 ? 13 : 11);
			const p = m.painted;
			console.log(
				`  ${key.padEnd(24)} ${String(m.rows).padStart(5)}  ${f(m.toRowsMs, p.toRowsMs)}   ${f(m.renderMs, p.renderMs)}   ${f(m.resortMs, p.resortMs)}   ${f(m.resortColdMs, p.resortColdMs)}`
			);
		}
		const figures = {
			bundle: size,
			nodes: total,
			runs: RUNS,
			settleMs: SETTLE_MS,
			loadAverageAtStart: loadAtStart,
			firstVisit: Object.fromEntries(builds.map((b) => [b.name, b.firstVisit])),
			scenarios: summary
		};
		if (jsonOut) writeFileSync(jsonOut, JSON.stringify(figures, null, 2));
		await writeRunResult(
			{
				runs: RUNS,
				nodes: NODES,
				settleMs: SETTLE_MS,
				baseline: baselineBuild,
				scenarios: ONLY ? [...ONLY] : 'all'
			},
			figures
		);
	} finally {
		stop();
	}
}

// -- Run record: the same JSON file as bench/record.py writes for the Python benches, under
// bench/results/ (or $OBT_BENCH_RESULTS): <UTC date-time>-<short commit>-dashboard.json.
async function writeRunResult(settings, figures) {
	const { execFileSync } = await import('node:child_process');
	const os = await import('node:os');
	const git = (...args) => {
		try {
			return execFileSync('git', args, { cwd: repo, encoding: 'utf8' }).trim();
		} catch {
			return '';
		}
	};
	const commit = git('rev-parse', 'HEAD') || 'unknown';
	const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
	const record = {
		bench: 'dashboard',
		date,
		commit,
		shortCommit: commit.slice(0, 7),
		dirty: git('status', '--porcelain', '--untracked-files=no') !== '',
		loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
		cpuCount: os.cpus().length,
		settings,
		figures
	};
	const folder = process.env.OBT_BENCH_RESULTS ?? join(repo, 'bench', 'results');
	mkdirSync(folder, { recursive: true });
	const file = join(folder, `${date.replaceAll('-', '').replaceAll(':', '')}-${record.shortCommit}-dashboard.json`);
	writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
	console.log(`figures written to ${relative(repo, file)}`);
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
