import { render, screen, within } from '@testing-library/svelte';
import type { Activity } from '$lib/api';
import ActivityList from './ActivityList.svelte';

const GIB = 1024 ** 3;

describe('ActivityList', () => {
	it('shows running steps with progress bars and recent finished steps with reasons', () => {
		const activity: Activity[] = [
			{
				sourceKind: 'OllamaTask',
				source: 'pull-llama-abcde',
				action: 'pull',
				model: 'llama3.2:latest',
				phase: 'Running',
				message: 'pulling 3f1a…',
				completedBytes: 1 * GIB,
				totalBytes: 2 * GIB
			},
			{
				sourceKind: 'OllamaModelSet',
				source: 'chat',
				action: 'pull',
				model: 'qwen2.5:7b',
				phase: 'Failed',
				reason: 'DiskFull',
				message: 'needs 4.7 GB, 1 GB free',
				finishedAt: '2026-12-03T20:00:00Z'
			}
		];
		render(ActivityList, { activity });
		const running = screen.getByTestId('activity-running');
		expect(running).toHaveTextContent('llama3.2:latest');
		expect(running).toHaveTextContent('1 GiB / 2 GiB');
		expect(within(running).getByRole('progressbar')).toHaveAttribute('aria-valuenow', '50');
		expect(within(running).getByRole('link')).toHaveAttribute('href', '/tasks/pull-llama-abcde');
		const finished = screen.getByTestId('activity-finished');
		expect(finished).toHaveTextContent('DiskFull: needs 4.7 GB, 1 GB free');
		expect(within(finished).getByRole('link')).toHaveAttribute('href', '/modelsets/chat');
	});

	it('names a benchmark without a link (it has no page here)', () => {
		render(ActivityList, {
			activity: [
				{
					sourceKind: 'OllamaBenchmark',
					source: 'bench-1',
					action: 'benchmark',
					model: 'm',
					phase: 'Succeeded',
					finishedAt: '2026-12-03T20:00:00Z'
				}
			]
		});
		const finished = screen.getByTestId('activity-finished');
		expect(finished).toHaveTextContent('bench-1');
		expect(within(finished).queryByRole('link')).toBeNull();
	});

	it('says when there is nothing yet', () => {
		render(ActivityList, { activity: [] });
		expect(screen.getByTestId('activity')).toHaveTextContent('Nothing yet');
	});
});
