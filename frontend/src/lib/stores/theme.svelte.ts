export type Theme = 'dark' | 'light';

export const THEME_KEY = 'obt-theme';

function readSaved(): Theme {
	try {
		return globalThis.localStorage?.getItem(THEME_KEY) === 'light' ? 'light' : 'dark';
	} catch {
		return 'dark';
	}
}

/** Dark by default; a choice of light is saved in localStorage and applied to <html>. */
export class ThemeStore {
	current = $state<Theme>('dark');

	constructor() {
		this.current = readSaved();
		this.apply();
	}

	toggle(): void {
		this.set(this.current === 'dark' ? 'light' : 'dark');
	}

	set(theme: Theme): void {
		this.current = theme;
		try {
			globalThis.localStorage?.setItem(THEME_KEY, theme);
		} catch {
			/* storage blocked: the choice lasts for this page only */
		}
		this.apply();
	}

	private apply(): void {
		if (typeof document === 'undefined') return;
		document.documentElement.classList.toggle('dark', this.current === 'dark');
	}
}

export const theme = new ThemeStore();
