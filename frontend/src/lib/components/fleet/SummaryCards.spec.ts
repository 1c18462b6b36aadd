import { render, screen } from '@testing-library/svelte';
import { makeSummary } from '$lib/testing/fixtures';
import SummaryCards from './SummaryCards.svelte';

describe('SummaryCards', () => {
	it('shows nodes up/down, GPUs by vendor, VRAM and Ollama versions', () => {
		render(SummaryCards, { summary: makeSummary() });
		expect(screen.getByTestId('card-nodes')).toHaveTextContent('8 up / 1 down');
		expect(screen.getByTestId('card-nodes')).toHaveTextContent('1 pending or unknown');
		expect(screen.getByTestId('card-gpus')).toHaveTextContent('20');
		expect(screen.getByTestId('card-gpus')).toHaveTextContent('16 nvidia · 4 amd');
		expect(screen.getByTestId('card-vram')).toHaveTextContent('400 GiB / 1.6 TiB');
		const versions = screen.getByTestId('card-ollama');
		expect(versions.textContent?.indexOf('0.5.7')).toBeLessThan(
			versions.textContent?.indexOf('0.4.7') ?? 0
		);
	});

	it('copes with an empty fleet', () => {
		render(SummaryCards, {
			summary: makeSummary({ nodes: 0, byPhase: {}, gpus: 0, gpusByVendor: {}, ollamaVersions: {} })
		});
		expect(screen.getByTestId('card-gpus')).toHaveTextContent('no GPUs reported');
		expect(screen.getByTestId('card-ollama')).toHaveTextContent('none reported');
	});
});
