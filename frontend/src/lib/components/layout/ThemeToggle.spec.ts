import { fireEvent, render, screen } from '@testing-library/svelte';
import { ThemeStore } from '$lib/stores/theme.svelte';
import ThemeToggle from './ThemeToggle.svelte';

describe('ThemeToggle', () => {
	beforeEach(() => localStorage.clear());

	it('offers the other theme and switches on click', async () => {
		const store = new ThemeStore();
		render(ThemeToggle, { store });
		const button = screen.getByRole('button', { name: 'Switch to light theme' });
		await fireEvent.click(button);
		expect(store.current).toBe('light');
		expect(screen.getByRole('button', { name: 'Switch to dark theme' })).toBeInTheDocument();
	});
});
