import { render, screen } from '@testing-library/svelte';
import LiveIndicator from './LiveIndicator.svelte';

describe('LiveIndicator', () => {
	it('reads "live" while the stream is open', () => {
		render(LiveIndicator, { state: 'live' });
		const status = screen.getByRole('status');
		expect(status).toHaveTextContent('live');
		expect(status).toHaveAttribute('data-state', 'live');
	});

	it('reads "reconnecting" and warns the view may be stale', () => {
		render(LiveIndicator, { state: 'reconnecting' });
		const status = screen.getByRole('status');
		expect(status).toHaveTextContent('reconnecting');
		expect(status.title).toContain('stale');
	});
});
