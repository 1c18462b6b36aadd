import { fireEvent, render, screen } from '@testing-library/svelte';
import NodeFilters from './NodeFilters.svelte';

describe('NodeFilters', () => {
	it('sends phase and vendor choices at once', async () => {
		const onchange = vi.fn();
		render(NodeFilters, { query: {}, vendors: ['amd', 'nvidia'], onchange });
		await fireEvent.change(screen.getByLabelText('Filter by phase'), {
			target: { value: 'NotReady' }
		});
		expect(onchange).toHaveBeenLastCalledWith({ phase: ['NotReady'] });
		await fireEvent.change(screen.getByLabelText('Filter by GPU vendor'), {
			target: { value: 'amd' }
		});
		expect(onchange).toHaveBeenLastCalledWith({ gpuVendor: ['amd'] });
		await fireEvent.change(screen.getByLabelText('Filter by GPU vendor'), {
			target: { value: '' }
		});
		expect(onchange).toHaveBeenLastCalledWith({ gpuVendor: undefined });
	});

	it('debounces typing in search and model fields', async () => {
		vi.useFakeTimers();
		try {
			const onchange = vi.fn();
			render(NodeFilters, { query: {}, vendors: [], onchange });
			const search = screen.getByLabelText('Search nodes');
			await fireEvent.input(search, { target: { value: 'h1' } });
			await fireEvent.input(search, { target: { value: 'h100' } });
			expect(onchange).not.toHaveBeenCalled();
			vi.advanceTimersByTime(300);
			expect(onchange).toHaveBeenCalledExactlyOnceWith({ search: 'h100', hasModel: undefined });
			await fireEvent.input(screen.getByLabelText('Has model'), {
				target: { value: ' llama3.1:8b ' }
			});
			vi.advanceTimersByTime(300);
			expect(onchange).toHaveBeenLastCalledWith({ search: 'h100', hasModel: 'llama3.1:8b' });
		} finally {
			vi.useRealTimers();
		}
	});

	it('keeps text being typed when the query changes for another reason', async () => {
		vi.useFakeTimers();
		try {
			const onchange = vi.fn();
			const { rerender } = render(NodeFilters, { query: {}, vendors: ['amd'], onchange });
			const search = screen.getByLabelText('Search nodes') as HTMLInputElement;
			await fireEvent.input(search, { target: { value: 'gpu-1' } });
			await rerender({ query: { gpuVendor: ['amd'] }, vendors: ['amd'], onchange });
			expect(search.value).toBe('gpu-1');
			vi.advanceTimersByTime(300);
			expect(onchange).toHaveBeenLastCalledWith({ search: 'gpu-1', hasModel: undefined });
			// A query set from outside (e.g. the URL) still fills the field.
			await rerender({ query: { search: 'other' }, vendors: ['amd'], onchange });
			expect(search.value).toBe('other');
		} finally {
			vi.useRealTimers();
		}
	});

	it('offers the vendors of the fleet', () => {
		render(NodeFilters, { query: { gpuVendor: ['intel'] }, vendors: ['intel'], onchange: vi.fn() });
		const select = screen.getByLabelText('Filter by GPU vendor') as HTMLSelectElement;
		expect([...select.options].map((o) => o.value)).toEqual(['', 'intel']);
		expect(select.value).toBe('intel');
	});
});
