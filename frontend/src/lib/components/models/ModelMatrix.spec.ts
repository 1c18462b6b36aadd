import { render, screen, within } from '@testing-library/svelte';
import { makeModelDetail } from '$lib/testing/fixtures';
import ModelMatrix from './ModelMatrix.svelte';

describe('ModelMatrix', () => {
	it('puts nodes holding every selected model first and marks loaded ones', () => {
		render(ModelMatrix, {
			models: [
				makeModelDetail({ name: 'llama3.1:8b', nodes: ['a', 'b', 'c'], loadedOn: ['b'] }),
				makeModelDetail({ name: 'qwen2:7b', nodes: ['b', 'd'], loadedOn: [] })
			]
		});
		expect(screen.getByTestId('nodes-with-all')).toHaveTextContent('1');
		const rows = screen.getAllByTestId('matrix-row');
		expect(rows.map((r) => within(r).getByRole('link').textContent)).toEqual(['b', 'a', 'c', 'd']);
		const b = within(rows[0]).getAllByRole('cell');
		expect(b[1]).toHaveTextContent('loaded');
		expect(b[2]).toHaveTextContent('installed');
		expect(within(rows[3]).getAllByRole('cell')[1]).toHaveTextContent('—');
	});
});
