import '@testing-library/jest-dom/vitest';

// jsdom has no matchMedia; svelte/motion (used inside Flowbite) reads prefers-reduced-motion.
// (No window at all in the node-environment specs, such as src/lint/.)
if (typeof window !== 'undefined' && !window.matchMedia) {
	window.matchMedia = (query: string) =>
		({
			matches: false,
			media: query,
			onchange: null,
			addEventListener: () => {},
			removeEventListener: () => {},
			addListener: () => {},
			removeListener: () => {},
			dispatchEvent: () => false
		}) as MediaQueryList;
}
