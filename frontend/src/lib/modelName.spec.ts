import { normalizeModelName } from './modelName';
import { queryFromParams } from './stores/fleetQuery';

describe('normalizeModelName', () => {
	// The same cases as tests/core/test_model_names.py.
	it.each([
		['llama3.2', 'llama3.2:latest'],
		['llama3.2:latest', 'llama3.2:latest'],
		['llama3.2:1b', 'llama3.2:1b'],
		['  llama3.2  ', 'llama3.2:latest'],
		['library/llama3.2', 'llama3.2:latest'],
		['registry.ollama.ai/library/llama3.2:latest', 'llama3.2:latest'],
		['registry.ollama.ai/library/llama3.2', 'llama3.2:latest'],
		['Registry.Ollama.AI/library/qwen2.5:7b', 'qwen2.5:7b'],
		['registry.ollama.ai/myuser/tiny', 'myuser/tiny:latest'],
		['myuser/tiny', 'myuser/tiny:latest'],
		[
			'hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF',
			'hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:latest'
		],
		[
			'hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M',
			'hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M'
		],
		['localhost:5000/team/model', 'localhost:5000/team/model:latest'],
		['llama3.2@sha256:abc', 'llama3.2:latest@sha256:abc'],
		['', '']
	])('%s -> %s', (given, normal) => {
		expect(normalizeModelName(given)).toBe(normal);
		expect(normalizeModelName(normal)).toBe(normal);
	});

	it('applies to a fleet link: ?hasModel=llama3.2 filters on llama3.2:latest', () => {
		expect(queryFromParams(new URLSearchParams('hasModel=llama3.2')).hasModel).toBe(
			'llama3.2:latest'
		);
	});
});
