import { fireEvent, render, screen, within } from '@testing-library/svelte';
import { makeVariant } from '$lib/testing/fixtures';
import ModelCatalogue from './ModelCatalogue.svelte';

describe('ModelCatalogue', () => {
	const items = [
		makeVariant(),
		makeVariant({
			digest: 'aaaaaaaaaaaa',
			quantizationLevel: 'Q8_0',
			nodeCount: 1,
			loadedCount: 0
		}),
		makeVariant({ name: 'qwen2:7b', family: 'qwen2', nodeCount: 5, loadedCount: 2 })
	];

	it('lists each model variant with size, quantization and node counts', () => {
		render(ModelCatalogue, { items, selected: [], ontoggle: vi.fn() });
		const rows = screen.getAllByTestId('model-row');
		expect(rows).toHaveLength(3);
		expect(rows[0]).toHaveTextContent('46e0c10c039e');
		expect(rows[0]).toHaveTextContent('Q4_K_M');
		expect(rows[0]).toHaveTextContent('4.9 GiB');
		expect(rows[1]).toHaveTextContent('Q8_0');
		expect(within(rows[2]).getAllByRole('cell').at(-2)).toHaveTextContent('5');
		expect(within(rows[2]).getAllByRole('cell').at(-1)).toHaveTextContent('2');
	});

	it('selects by name across variants', async () => {
		const ontoggle = vi.fn();
		render(ModelCatalogue, { items, selected: ['llama3.1:8b'], ontoggle });
		const boxes = screen.getAllByRole('checkbox', { name: 'Select llama3.1:8b' });
		expect(boxes.every((b) => (b as HTMLInputElement).checked)).toBe(true);
		await fireEvent.click(screen.getByRole('checkbox', { name: 'Select qwen2:7b' }));
		expect(ontoggle).toHaveBeenCalledWith('qwen2:7b');
	});
});
