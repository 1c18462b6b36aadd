import { fireEvent, render, screen, within } from '@testing-library/svelte';
import { ApiError, type NewTask, type OllamaTask } from '$lib/api';
import { makeModelDetail, makeNode } from '$lib/testing/fixtures';
import ModelActions from './ModelActions.svelte';

beforeAll(() => {
	const proto = HTMLDialogElement.prototype as HTMLDialogElement & Record<string, unknown>;
	proto.showModal ??= function (this: HTMLDialogElement) {
		this.setAttribute('open', '');
	};
	proto.close ??= function (this: HTMLDialogElement) {
		this.removeAttribute('open');
	};
});

const MODELS = ['llama3.2:latest', 'qwen2.5:7b'];
const DETAILS = [
	makeModelDetail({
		name: 'llama3.2:latest',
		nodes: ['gpu-1', 'gpu-2'],
		loadedOn: ['gpu-2', 'gpu-9']
	}),
	makeModelDetail({ name: 'qwen2.5:7b', nodes: ['gpu-1'], loadedOn: [] })
];

function created(spec: NewTask['spec']): OllamaTask {
	return {
		metadata: { name: 'pull-llama3-2-abcde' },
		spec,
		status: {
			phase: 'Running',
			selected: 2,
			nodes: [
				{
					node: 'gpu-1',
					phase: 'Running',
					model: 'llama3.2:latest',
					completedBytes: 1,
					totalBytes: 4
				}
			]
		}
	};
}

function setup(overrides: Record<string, unknown> = {}) {
	const create = vi.fn(async (task: NewTask) => created(task.spec));
	const searchNodes = vi.fn(async () => [makeNode({ name: 'gpu-1' }), makeNode({ name: 'gpu-2' })]);
	const loadedNodes = vi.fn(async () => [
		makeNode({ name: 'gpu-2', labels: { zone: 'z1' } }),
		makeNode({ name: 'gpu-9', labels: { zone: 'z2' } })
	]);
	render(ModelActions, {
		models: MODELS,
		details: DETAILS,
		canAct: true,
		create,
		searchNodes,
		loadedNodes,
		...overrides
	});
	return { create, searchNodes, loadedNodes };
}

async function pickBoth() {
	await fireEvent.click(await screen.findByRole('checkbox', { name: 'Act on gpu-1' }));
	await fireEvent.click(screen.getByRole('checkbox', { name: 'Act on gpu-2' }));
}

describe('ModelActions', () => {
	it('asks only operators to act', () => {
		render(ModelActions, { models: MODELS, details: DETAILS, canAct: false });
		expect(screen.getByTestId('actions-need-role')).toHaveTextContent('operator role');
		expect(screen.queryByTestId('action-pull')).toBeNull();
	});

	it('says what is missing before asking', async () => {
		const { create } = setup();
		await fireEvent.click(screen.getByTestId('action-pull'));
		expect(screen.getByTestId('action-error')).toHaveTextContent('Select at least one node.');
		expect(screen.getByTestId('confirm-action')).not.toHaveAttribute('open');
		expect(create).not.toHaveBeenCalled();
	});

	it('confirms a pull on the chosen nodes, starts it and follows its progress', async () => {
		const { create } = setup();
		await pickBoth();
		expect(within(screen.getByTestId('chosen-nodes')).getByText('gpu-2')).toBeInTheDocument();
		await fireEvent.click(screen.getByTestId('action-pull'));
		const dialog = screen.getByTestId('confirm-action');
		expect(dialog).toHaveAttribute('open');
		expect(screen.getByTestId('confirm-body')).toHaveTextContent(
			'Pull 2 models (llama3.2:latest and qwen2.5:7b) on 2 nodes: gpu-1 and gpu-2.'
		);
		expect(screen.queryByTestId('confirm-warning')).toBeNull();
		await fireEvent.click(screen.getByTestId('confirm-start'));
		expect(create).toHaveBeenCalledWith({
			spec: { action: 'pull', models: MODELS.map((name) => ({ name })), nodes: ['gpu-1', 'gpu-2'] }
		});
		const followed = await screen.findByTestId('followed-task');
		expect(followed).toHaveTextContent('pull-llama3-2-abcde');
		const row = screen.getAllByTestId('node-progress')[0];
		expect(row).toHaveAttribute('data-node', 'gpu-1');
		expect(within(row).getByRole('progressbar')).toHaveAttribute('aria-valuenow', '25');
		expect(dialog).not.toHaveAttribute('open');
	});

	it('warns on delete, listing the chosen nodes where a model is loaded, and can evict', async () => {
		const { create } = setup();
		await pickBoth();
		await fireEvent.click(screen.getByTestId('action-delete'));
		const warning = await screen.findByTestId('confirm-warning');
		expect(warning).toHaveTextContent('Loaded now on 1 node');
		expect(warning).toHaveTextContent('llama3.2:latest: gpu-2'); // gpu-9 is not chosen
		await fireEvent.click(screen.getByTestId('confirm-evict'));
		expect(warning).toHaveTextContent('deleting takes it away');
		await fireEvent.click(screen.getByTestId('confirm-start'));
		expect(create.mock.calls[0][0].spec).toMatchObject({ action: 'delete', evict: true });
	});

	it('with a selector, warns about the loaded nodes it picks', async () => {
		const { create, loadedNodes } = setup();
		await fireEvent.click(screen.getByRole('radio', { name: /Label selector/ }));
		await fireEvent.input(screen.getByTestId('selector-input'), { target: { value: 'zone=z2' } });
		await fireEvent.click(screen.getByTestId('action-unload'));
		expect(await screen.findByTestId('confirm-warning')).toHaveTextContent(
			'llama3.2:latest: gpu-9'
		);
		expect(loadedNodes).toHaveBeenCalledWith('llama3.2:latest');
		expect(screen.getByTestId('confirm-body')).toHaveTextContent(
			'every node matching the selector zone=z2'
		);
		create.mockRejectedValueOnce(new ApiError(422, 'the selector zone=z2 picks no node'));
		await fireEvent.click(screen.getByTestId('confirm-start'));
		expect(await screen.findByTestId('confirm-error')).toHaveTextContent('picks no node');
		expect(screen.getByTestId('confirm-action')).toHaveAttribute('open');
	});

	it('shows a malformed selector as it is typed', async () => {
		setup();
		await fireEvent.click(screen.getByRole('radio', { name: /Label selector/ }));
		await fireEvent.input(screen.getByTestId('selector-input'), { target: { value: 'a b' } });
		expect(screen.getByTestId('selector-input')).toHaveAttribute('aria-invalid', 'true');
		expect(screen.getByText(/is not one of key=value/)).toBeInTheDocument();
	});

	it('offers a model set from the selection', () => {
		setup();
		expect(screen.getByTestId('keep-models')).toHaveAttribute(
			'href',
			'/modelsets?new=1&models=llama3.2%3Alatest%2Cqwen2.5%3A7b'
		);
	});

	it('offers a benchmark of the selection on the chosen selector', async () => {
		setup();
		expect(screen.getByTestId('action-benchmark')).toHaveAttribute(
			'href',
			'/benchmarks?new=1&models=llama3.2%3Alatest%2Cqwen2.5%3A7b'
		);
		await fireEvent.click(screen.getByRole('radio', { name: /Label selector/ }));
		await fireEvent.input(screen.getByTestId('selector-input'), {
			target: { value: 'gpu=h100' }
		});
		expect(screen.getByTestId('action-benchmark')).toHaveAttribute(
			'href',
			'/benchmarks?new=1&models=llama3.2%3Alatest%2Cqwen2.5%3A7b&selector=gpu%3Dh100'
		);
	});
});
