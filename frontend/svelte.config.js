import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
const config = {
	preprocess: vitePreprocess(),
	kit: {
		// A single-page app: the API serves build/ and answers unknown paths with index.html,
		// so /nodes/<name> works on a reload without prerendering every node.
		adapter: adapter({ pages: 'build', assets: 'build', fallback: 'index.html', strict: true }),
		output: { bundleStrategy: 'single' }
	}
};

export default config;
