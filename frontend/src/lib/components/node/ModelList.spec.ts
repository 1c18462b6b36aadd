import { render, screen, within } from '@testing-library/svelte';
import ModelList from './ModelList.svelte';

const GIB = 1024 ** 3;

describe('ModelList', () => {
	it('lists loaded models with VRAM and installed ones with quantization, marking loaded', () => {
		render(ModelList, {
			models: [
				{
					name: 'llama3.1:8b',
					family: 'llama',
					parameterSize: '8.0B',
					quantizationLevel: 'Q4_K_M',
					size: 4.9 * GIB
				},
				{
					name: 'qwen2:7b',
					family: 'qwen2',
					parameterSize: '7.6B',
					quantizationLevel: 'Q8_0',
					size: 8 * GIB
				}
			],
			loaded: [{ name: 'llama3.1:8b', size: 6 * GIB, sizeVram: 5.5 * GIB, contextLength: 8192 }]
		});
		const loaded = screen.getByTestId('loaded-row');
		expect(loaded).toHaveTextContent('llama3.1:8b');
		expect(loaded).toHaveTextContent('5.5 GiB');
		expect(loaded).toHaveTextContent('8192');
		const [llama, qwen] = screen.getAllByTestId('installed-row');
		expect(within(llama).getByText('loaded')).toBeInTheDocument();
		expect(within(qwen).queryByText('loaded')).toBeNull();
		expect(qwen).toHaveTextContent('Q8_0');
		expect(screen.getByRole('heading', { name: 'Installed (2)' })).toBeInTheDocument();
	});

	it('tells what to do when nothing is installed', () => {
		render(ModelList, { models: [], loaded: [] });
		expect(screen.getByText('No model is loaded.')).toBeInTheDocument();
		expect(screen.getByTestId('installed-models')).toHaveTextContent('ollama pull');
	});
});
