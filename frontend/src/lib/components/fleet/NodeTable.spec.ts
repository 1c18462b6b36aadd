import { fireEvent, render, screen, within } from '@testing-library/svelte';
import { makeNode } from '$lib/testing/fixtures';
import NodeTable from './NodeTable.svelte';

const now = Date.parse('2026-01-01T00:10:00Z');

describe('NodeTable', () => {
	const items = [
		makeNode({ name: 'alpha', updatedAt: '2026-01-01T00:05:00Z' }),
		makeNode({
			name: 'beta',
			phase: 'NotReady',
			ollamaReachable: false,
			gpuSummary: '',
			vramTotalBytes: 0,
			loadedCount: 0
		})
	];

	it('renders a row per node with status, GPUs, counts, Ollama and last seen', () => {
		render(NodeTable, { items, sort: 'name', onsort: vi.fn(), now });
		const rows = screen.getAllByTestId('node-row');
		expect(rows).toHaveLength(2);
		const alpha = within(rows[0]);
		expect(alpha.getByRole('link', { name: 'alpha' })).toHaveAttribute('href', '/nodes/alpha');
		expect(alpha.getByText('Ready')).toBeInTheDocument();
		expect(alpha.getByText('2x H100 80GB')).toBeInTheDocument();
		expect(alpha.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '25');
		expect(alpha.getByText('0.5.7')).toBeInTheDocument();
		expect(alpha.getByText('5 min ago')).toBeInTheDocument();
		const beta = within(rows[1]);
		expect(beta.getByText('Not ready')).toBeInTheDocument();
		expect(beta.getByText('unreachable')).toBeInTheDocument();
		expect(beta.getByText('no GPU memory')).toBeInTheDocument();
	});

	it('sorts by a column, then reverses it on a second click', async () => {
		const onsort = vi.fn();
		const { rerender } = render(NodeTable, { items, sort: 'name', onsort, now });
		expect(screen.getByRole('columnheader', { name: /Node/ })).toHaveAttribute(
			'aria-sort',
			'ascending'
		);
		await fireEvent.click(screen.getByRole('button', { name: /Node/ }));
		expect(onsort).toHaveBeenLastCalledWith('-name');
		await fireEvent.click(screen.getByRole('button', { name: /Models/ }));
		expect(onsort).toHaveBeenLastCalledWith('models');
		await rerender({ items, sort: '-name', onsort, now });
		expect(screen.getByRole('columnheader', { name: /Node/ })).toHaveAttribute(
			'aria-sort',
			'descending'
		);
		await fireEvent.click(screen.getByRole('button', { name: /Node/ }));
		expect(onsort).toHaveBeenLastCalledWith('name');
	});

	it('highlights rows a live event just changed', () => {
		render(NodeTable, { items, sort: 'name', onsort: vi.fn(), now, flashed: { beta: now - 500 } });
		const [alpha, beta] = screen.getAllByTestId('node-row');
		expect(beta.classList.contains('flash')).toBe(true);
		expect(alpha.classList.contains('flash')).toBe(false);
	});
});
