import tailwindcss from '@tailwindcss/vite';
import { sveltekit } from '@sveltejs/kit/vite';
import { svelteTesting } from '@testing-library/svelte/vite';
import { defineConfig } from 'vitest/config';

const apiTarget = process.env.OBT_API_URL ?? 'http://127.0.0.1:8881';

export default defineConfig({
	plugins: [tailwindcss(), sveltekit(), svelteTesting()],
	server: {
		port: 5173,
		strictPort: true,
		proxy: { '/api': { target: apiTarget, changeOrigin: false } }
	},
	preview: {
		proxy: { '/api': { target: apiTarget, changeOrigin: false } }
	},
	build: {
		// Chart.js is the largest dependency; it is loaded only with the chart that needs it.
		chunkSizeWarningLimit: 400
	},
	test: {
		environment: 'jsdom',
		include: ['src/**/*.{test,spec}.{js,ts}'],
		setupFiles: ['./vitest-setup.ts'],
		globals: true,
		restoreMocks: true,
		unstubGlobals: true
	}
});
