import { render, screen } from '@testing-library/svelte';
import VramBar from './VramBar.svelte';

const GIB = 1024 ** 3;

describe('VramBar', () => {
	it('shows used of total as a progress bar', () => {
		render(VramBar, { used: 20 * GIB, total: 80 * GIB });
		const bar = screen.getByRole('progressbar', { name: 'VRAM used' });
		expect(bar).toHaveAttribute('aria-valuenow', '25');
		expect(screen.getByText('20 GiB / 80 GiB')).toBeInTheDocument();
	});

	it('caps an over-full bar at 100 % and colours it red', () => {
		render(VramBar, { used: 42 * GIB, total: 24 * GIB });
		const bar = screen.getByRole('progressbar');
		expect(bar).toHaveAttribute('aria-valuenow', '100');
		expect(bar.firstElementChild?.className).toContain('bg-red-500');
	});

	it('says so when there is no GPU memory', () => {
		render(VramBar, { used: 0, total: 0 });
		expect(screen.getByText('no GPU memory')).toBeInTheDocument();
		expect(screen.queryByRole('progressbar')).toBeNull();
	});
});
