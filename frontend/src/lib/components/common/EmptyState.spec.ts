import { render, screen } from '@testing-library/svelte';
import EmptyState from './EmptyState.svelte';

describe('EmptyState', () => {
	it('tells a new user how to start an agent against this server', () => {
		render(EmptyState, {
			title: 'No nodes yet',
			showAgentHelp: true,
			serverUrl: 'http://obt:8881'
		});
		expect(screen.getByRole('heading', { name: 'No nodes yet' })).toBeInTheDocument();
		expect(
			screen.getByText('obt agent --server http://obt:8881 --enroll-token TOKEN')
		).toBeInTheDocument();
	});

	it('leaves the agent help out for "no matches"', () => {
		render(EmptyState, { title: 'No node matches' });
		expect(screen.getByTestId('empty-state')).not.toHaveTextContent('obt agent');
	});
});
