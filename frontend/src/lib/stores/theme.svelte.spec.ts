import { THEME_KEY, ThemeStore } from './theme.svelte';

describe('ThemeStore', () => {
	beforeEach(() => {
		localStorage.clear();
		document.documentElement.classList.remove('dark');
	});

	it('is dark by default and marks <html>', () => {
		const store = new ThemeStore();
		expect(store.current).toBe('dark');
		expect(document.documentElement.classList.contains('dark')).toBe(true);
	});

	it('restores a saved light choice', () => {
		localStorage.setItem(THEME_KEY, 'light');
		const store = new ThemeStore();
		expect(store.current).toBe('light');
		expect(document.documentElement.classList.contains('dark')).toBe(false);
	});

	it('toggles, saves the choice and updates <html>', () => {
		const store = new ThemeStore();
		store.toggle();
		expect(store.current).toBe('light');
		expect(localStorage.getItem(THEME_KEY)).toBe('light');
		expect(document.documentElement.classList.contains('dark')).toBe(false);
		store.toggle();
		expect(localStorage.getItem(THEME_KEY)).toBe('dark');
		expect(document.documentElement.classList.contains('dark')).toBe(true);
	});
});
