import { render, screen } from '@testing-library/svelte';
import StepPhaseBadge from './StepPhaseBadge.svelte';

describe('StepPhaseBadge', () => {
	it.each([
		['Succeeded', 'done'],
		['Failed', 'failed'],
		['Running', 'running'],
		['Skipped', 'skipped'],
		['Waiting', 'waiting']
	])('shows %s as %s', (phase, text) => {
		render(StepPhaseBadge, { phase });
		expect(screen.getByText(text)).toHaveAttribute('data-phase', phase);
	});
});
