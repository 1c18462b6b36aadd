import { render, screen } from '@testing-library/svelte';
import PhaseBadge from './PhaseBadge.svelte';

describe('PhaseBadge', () => {
	it.each([
		['Ready', 'Ready', 'green'],
		['NotReady', 'Not ready', 'red'],
		['Pending', 'Pending', 'yellow'],
		['Unknown', 'Unknown', 'gray']
	])('%s reads "%s" in %s', (phase, label, color) => {
		const { container } = render(PhaseBadge, { phase });
		expect(screen.getByText(label)).toBeInTheDocument();
		expect(container.querySelector(`[data-phase="${phase}"]`)?.className).toContain(color);
	});
});
