import { render, screen, within } from '@testing-library/svelte';
import { makeRemoved } from '$lib/testing/fixtures';
import RemovedNodes from './RemovedNodes.svelte';

const now = Date.parse('2026-01-01T00:10:00Z');

describe('RemovedNodes', () => {
	it('shows each removed host with its reason, when it was last seen, hardware and models', () => {
		render(RemovedNodes, {
			items: [
				makeRemoved(),
				makeRemoved({
					name: 'old-rack-3',
					displayName: null,
					source: 'daemonset',
					reason: 'Decommissioned',
					lastSeenAt: null,
					gpuSummary: '',
					gpuCount: 0,
					cpu: '',
					models: ['a:1', 'b:1', 'c:1', 'd:1', 'e:1', 'f:1']
				})
			],
			now
		});
		expect(screen.getByRole('heading', { name: 'Recently removed' })).toBeInTheDocument();
		const rows = screen.getAllByTestId('removed-row');
		expect(rows).toHaveLength(2);
		const pc = within(rows[0]);
		expect(pc.getByText('gaming-pc')).toBeInTheDocument();
		expect(pc.getByText('Gaming PC')).toBeInTheDocument();
		expect(pc.getByTestId('removed-reason')).toHaveTextContent('Agent gone (no heartbeat)');
		expect(pc.getByTestId('removed-reason')).toHaveAttribute('title', 'AgentGone');
		expect(pc.getByTestId('removed-last-seen')).toHaveTextContent('2 min ago');
		expect(pc.getByTestId('removed-hardware')).toHaveTextContent('1x RTX 4090 24GB');
		expect(pc.getByTestId('removed-hardware')).toHaveTextContent(
			'Ryzen 9 7950X (16c) · 64 GiB RAM'
		);
		expect(pc.getByTestId('removed-models')).toHaveTextContent('llama3.1:8b, qwen2.5:0.5b');
		expect(pc.getByText('1 min ago')).toBeInTheDocument(); // removed

		const rack = within(rows[1]);
		expect(rack.getByTestId('removed-reason')).toHaveTextContent('Decommissioned');
		expect(rack.getByTestId('removed-last-seen')).toHaveTextContent('—');
		expect(rack.getByTestId('removed-hardware')).toHaveTextContent('no GPU');
		expect(rack.getByTestId('removed-hardware')).toHaveTextContent('CPU unknown');
		expect(rack.getByTestId('removed-models')).toHaveTextContent('a:1, b:1, c:1, d:1 +2 more');
	});

	it('shows a reason it does not know as the API sent it', () => {
		render(RemovedNodes, { items: [makeRemoved({ reason: 'Evicted', models: [] })], now });
		expect(screen.getByTestId('removed-reason')).toHaveTextContent('Evicted');
		expect(screen.getByTestId('removed-models')).toHaveTextContent('none');
	});
});
