#!/usr/bin/env node
// Where the fleet page's time goes, per load: a Chromium trace of one page load and one re-sort
// (the Node header, answered from the page cache), summed by trace event on the page's main
// thread, as wall time and as the thread's own CPU time (the trace's `tdur`). On a busy machine
// the two differ by the time the renderer waited for a core; the CPU time does not depend on load.
//
//   obt serve --demo ... (seeded, e.g. by bench/dashboard.mjs's seeding or POST /api/v1/admin/seed)
//   RUNS=3 node bench/dashboard_profile.mjs http://127.0.0.1:8881 [--json out.json]
//
// Windows: "load" = navigation start -> the frame that painted the rows; "render" = the app has
// the list ('obt:list-data' mark) -> that frame painted; "re-sort" = click -> the frame that
// painted the reversed rows.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(repo, 'frontend', 'package.json'));
const { chromium } = require('@playwright/test');

const base = process.argv[2];
if (!base || !/^https?:\/\//.test(base)) {
	console.error(
		'usage: node bench/dashboard_profile.mjs BASE_URL [--json out.json]  (BASE_URL: a running obt serve, e.g. http://127.0.0.1:8881)'
	);
	process.exit(2);
}
const jsonOut = process.argv.includes('--json')
	? process.argv[process.argv.indexOf('--json') + 1]
	: null;
const RUNS = Number(process.env.RUNS ?? 3);
const ROWS = Number(process.env.ROWS ?? 50);
const NAMES = [
	'UpdateLayoutTree',
	'Layout',
	'PrePaint',
	'Paint',
	'Layerize',
	'EvaluateScript',
	'v8.evaluateModule',
	'v8.compileModule',
	'FunctionCall',
	'RunMicrotasks',
	'MinorGC',
	'MajorGC',
	'ParseHTML',
	'ParseAuthorStyleSheet',
	'FireAnimationFrame',
	'TimerFire'
];

// In the page: resolve at the end of the frame (painted) at which `check` first holds.
const painted = (check, arg) =>
	new Promise((ok) => {
		const test = new Function('arg', `return (${check})(arg)`);
		const tick = () => {
			if (!test(arg)) return requestAnimationFrame(tick);
			const dom = performance.now();
			const channel = new MessageChannel();
			channel.port1.onmessage = () => ok({ dom, painted: performance.now() });
			channel.port2.postMessage(0);
		};
		requestAnimationFrame(tick);
	});

const browser = await chromium.launch({
	executablePath: process.env.OBT_CHROMIUM ?? '/usr/lib/chromium/chromium',
	args: [
		'--headless',
		'--no-sandbox',
		'--disable-gpu',
		'--disable-quic',
		'--no-first-run',
		'--disable-background-networking',
		'--disable-component-update',
		'--disable-sync'
	]
});
const results = [];
try {
	{
		const warm = await browser.newPage();
		await warm.goto(base + '/');
		await warm.waitForSelector('[data-testid="node-row"]');
		await warm.close();
	}
	for (let run = 0; run < RUNS; run++) {
		const context = await browser.newContext({
			viewport: { width: 1440, height: 900 },
			colorScheme: 'dark'
		});
		const page = await context.newPage();
		const cdp = await context.newCDPSession(page);
		const events = [];
		cdp.on('Tracing.dataCollected', (d) => events.push(...d.value));
		const complete = new Promise((r) => cdp.once('Tracing.tracingComplete', r));
		await cdp.send('Tracing.start', {
			categories:
				'devtools.timeline,disabled-by-default-devtools.timeline,v8.execute,v8,blink.user_timing,loading',
			transferMode: 'ReportEvents'
		});
		await page.goto(base + '/', { waitUntil: 'commit' });
		const rows = await page.evaluate(
			({ painted, rows }) =>
				new Function(`return (${painted})`)()(
					(n) => document.querySelectorAll('[data-testid="node-row"]').length >= n,
					rows
				),
			{ painted: painted.toString(), rows: ROWS }
		);
		await page.waitForTimeout(1000);
		const resort = await page.evaluate(
			({ painted }) => {
				const button = [...document.querySelectorAll('th button')].find((b) =>
					b.textContent.trim().startsWith('Node')
				);
				performance.mark('bench:click');
				button.click();
				return new Function(`return (${painted})`)()(() => {
					const r = document.querySelectorAll('[data-testid="node-row"]');
					return (
						r.length && r[0].getAttribute('data-node') > r[r.length - 1].getAttribute('data-node')
					);
				});
			},
			{ painted: painted.toString() }
		);
		await page.waitForTimeout(200);
		const marks = await page.evaluate(() => ({
			click: performance.getEntriesByName('bench:click')[0].startTime,
			data: performance.getEntriesByName('obt:list-data')[0]?.startTime ?? null
		}));
		await cdp.send('Tracing.end');
		await complete;
		// The page's main thread: the renderer thread that recorded the click mark.
		const click = events.find((e) => e.name === 'bench:click');
		const origin = click.ts / 1000 - marks.click; // trace clock (ms) at performance.now() = 0
		const onMain = events.filter((e) => e.pid === click.pid && e.tid === click.tid && e.ph === 'X');
		const sum = (from, to) => {
			const wall = {},
				cpu = {};
			let taskWall = 0,
				taskCpu = 0;
			for (const e of onMain) {
				// Events that overlap the window, clipped to it (a task may begin before the mark).
				const start = e.ts / 1000 - origin;
				const end = start + e.dur / 1000;
				if (end <= from || start >= to) continue;
				const share = e.dur ? (Math.min(end, to) - Math.max(start, from)) / (e.dur / 1000) : 0;
				if (e.name === 'ThreadControllerImpl::RunTask' || e.name === 'RunTask') {
					taskWall += (share * e.dur) / 1000;
					taskCpu += (share * (e.tdur ?? 0)) / 1000;
				}
				if (!NAMES.includes(e.name)) continue;
				wall[e.name] = (wall[e.name] ?? 0) + (share * e.dur) / 1000;
				cpu[e.name] = (cpu[e.name] ?? 0) + (share * (e.tdur ?? 0)) / 1000;
			}
			const r = (o) =>
				Object.fromEntries(
					Object.entries(o)
						.sort((a, b) => b[1] - a[1])
						.map(([k, v]) => [k, Math.round(v * 10) / 10])
				);
			return {
				windowMs: Math.round(to - from),
				tasksWallMs: Math.round(taskWall),
				tasksCpuMs: Math.round(taskCpu),
				wall: r(wall),
				cpu: r(cpu)
			};
		};
		const result = {
			rowsPaintedMs: Math.round(rows.painted),
			resortPaintedMs: Math.round(resort.painted - marks.click),
			load: sum(0, rows.painted),
			render: marks.data === null ? null : sum(marks.data, rows.painted),
			resort: sum(marks.click, resort.painted)
		};
		results.push(result);
		const line = (name, w) =>
			w &&
			console.log(
				`  ${name.padEnd(8)} ${String(w.windowMs).padStart(5)} ms window, main-thread tasks ${w.tasksWallMs} ms wall / ${w.tasksCpuMs} ms CPU; CPU by event: ${Object.entries(
					w.cpu
				)
					.slice(0, 7)
					.map(([k, v]) => `${k} ${v}`)
					.join(', ')}`
			);
		console.log(
			`load ${run + 1}: rows painted at ${result.rowsPaintedMs} ms, re-sort painted after ${result.resortPaintedMs} ms`
		);
		line('load', result.load);
		line('render', result.render);
		line('re-sort', result.resort);
		await context.close();
	}
} finally {
	await browser.close();
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ base, runs: RUNS, results }, null, 2) + '\n');
