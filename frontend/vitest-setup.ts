import '@testing-library/jest-dom/vitest';

// jsdom has no matchMedia; svelte/motion (used inside Flowbite) reads prefers-reduced-motion.
if (!window.matchMedia) {
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
