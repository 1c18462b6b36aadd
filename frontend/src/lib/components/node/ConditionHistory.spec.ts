import { render, screen } from '@testing-library/svelte';
import ConditionHistory from './ConditionHistory.svelte';

describe('ConditionHistory', () => {
	it('shows conditions and the phase history newest first', () => {
		render(ConditionHistory, {
			conditions: [
				{
					type: 'Ready',
					status: 'False',
					reason: 'LeaseExpired',
					message: 'No heartbeat for 30s.',
					lastTransitionTime: '2026-01-01T00:00:00Z'
				}
			],
			history: [
				{
					phase: 'NotReady',
					reason: 'LeaseExpired',
					message: 'No heartbeat for 30s.',
					at: '2026-01-01T00:00:00Z'
				},
				{ phase: 'Ready', reason: 'AgentReady', message: '', at: '2025-12-31T00:00:00Z' }
			]
		});
		const box = screen.getByTestId('conditions');
		expect(box).toHaveTextContent('Ready');
		expect(box).toHaveTextContent('False');
		expect(box).toHaveTextContent('No heartbeat for 30s.');
		const items = screen.getByTestId('history').querySelectorAll('li');
		expect(items).toHaveLength(2);
		expect(items[0]).toHaveTextContent('Not ready');
		expect(items[1]).toHaveTextContent('AgentReady');
	});

	it('explains empty conditions and history', () => {
		render(ConditionHistory, { conditions: [], history: [] });
		expect(
			screen.getByText('No conditions yet: liveness has not been judged.')
		).toBeInTheDocument();
		expect(screen.getByText('No phase changes recorded.')).toBeInTheDocument();
	});
});
