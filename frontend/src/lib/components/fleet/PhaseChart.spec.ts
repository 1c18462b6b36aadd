import { render, screen, waitFor } from '@testing-library/svelte';
import PhaseChart from './PhaseChart.svelte';

// jsdom has no canvas: stand in for Chart.js and record what the component asks it to draw.
const created: { type: string; labels: string[]; data: number[] }[] = [];
vi.mock('chart.js/auto', () => ({
	default: class {
		data: { labels: string[]; datasets: { data: number[] }[] };
		constructor(
			_el: unknown,
			config: { type: string; data: { labels: string[]; datasets: { data: number[] }[] } }
		) {
			this.data = config.data;
			created.push({
				type: config.type,
				labels: config.data.labels,
				data: config.data.datasets[0].data
			});
		}
		update() {}
		destroy() {}
	}
}));

describe('PhaseChart', () => {
	beforeEach(() => {
		created.length = 0;
		HTMLCanvasElement.prototype.getContext = vi.fn(() => ({}) as CanvasRenderingContext2D) as never;
	});

	it('draws a doughnut of node counts in phase order, skipping empty phases', async () => {
		render(PhaseChart, { byPhase: { Unknown: 1, Ready: 8, NotReady: 0, Pending: 2 } });
		expect(
			screen.getByLabelText('Nodes by phase: Ready: 8, Pending: 2, Unknown: 1')
		).toBeInTheDocument();
		await waitFor(() => expect(created).toHaveLength(1));
		expect(created[0]).toEqual({
			type: 'doughnut',
			labels: ['Ready', 'Pending', 'Unknown'],
			data: [8, 2, 1]
		});
	});
});
