import { fireEvent, render, screen } from '@testing-library/svelte';
import Pager from './Pager.svelte';

describe('Pager', () => {
	it('shows the range and moves between pages', async () => {
		const onpage = vi.fn();
		render(Pager, { pageIndex: 1, pageCount: 100, total: 5000, pageSize: 50, onpage });
		expect(screen.getByTestId('pager-range')).toHaveTextContent('51–100 of 5000');
		await fireEvent.click(screen.getByRole('button', { name: 'Next' }));
		expect(onpage).toHaveBeenLastCalledWith(2);
		await fireEvent.click(screen.getByRole('button', { name: 'Previous' }));
		expect(onpage).toHaveBeenLastCalledWith(0);
	});

	it('disables buttons at the ends', () => {
		render(Pager, { pageIndex: 0, pageCount: 1, total: 3, pageSize: 50, onpage: vi.fn() });
		expect(screen.getByRole('button', { name: 'Previous' })).toBeDisabled();
		expect(screen.getByRole('button', { name: 'Next' })).toBeDisabled();
		expect(screen.getByTestId('pager-range')).toHaveTextContent('1–3 of 3');
	});
});
