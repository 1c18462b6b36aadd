import { defineConfig } from '@hey-api/openapi-ts';

// The client is generated from openapi.json (written by `python -m obt.api.openapi`) and never
// edited by hand: `pnpm run gen:api` regenerates it, `pnpm run check:api` fails when it is stale.
/** @type {import('@hey-api/openapi-ts').UserConfig} */
export const config = {
	input: './openapi.json',
	output: { path: './src/lib/api/generated' },
	plugins: ['@hey-api/client-fetch', '@hey-api/typescript', '@hey-api/sdk']
};

export default defineConfig(config);
