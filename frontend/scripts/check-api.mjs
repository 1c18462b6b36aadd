// Fails when src/lib/api/generated is not what openapi.json generates now (run `pnpm run gen:api`).
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createClient } from '@hey-api/openapi-ts';
import { config } from '../openapi-ts.config.js';

const committed = config.output.path;

async function files(dir) {
	const out = new Map();
	async function walk(d) {
		for (const entry of await readdir(d, { withFileTypes: true })) {
			const p = join(d, entry.name);
			if (entry.isDirectory()) await walk(p);
			else out.set(relative(dir, p), await readFile(p, 'utf8'));
		}
	}
	try {
		await walk(dir);
	} catch (err) {
		if (err.code !== 'ENOENT') throw err;
	}
	return out;
}

const tmp = await mkdtemp(join(tmpdir(), 'obt-api-check-'));
try {
	await createClient({
		...config,
		output: { ...config.output, path: tmp },
		logs: { level: 'silent', file: false }
	});
	const [want, have] = await Promise.all([files(tmp), files(committed)]);
	const problems = [];
	for (const [name, text] of want) {
		if (!have.has(name)) problems.push(`missing: ${name}`);
		else if (have.get(name) !== text) problems.push(`differs: ${name}`);
	}
	for (const name of have.keys()) if (!want.has(name)) problems.push(`extra: ${name}`);
	if (problems.length) {
		console.error(`The generated API client in ${committed} is stale relative to openapi.json:`);
		for (const p of problems) console.error(`  ${p}`);
		console.error('Run `make generate` and commit the result.');
		process.exit(1);
	}
	console.log(`API client up to date with openapi.json (${want.size} files).`);
} finally {
	await rm(tmp, { recursive: true, force: true });
}
