import { ModelSelection, SELECTION_KEY } from './selection.svelte';

describe('ModelSelection', () => {
	beforeEach(() => sessionStorage.clear());

	it('toggles names in and out and keeps them for the tab', () => {
		const selection = new ModelSelection(sessionStorage);
		selection.toggle('llama3.1:8b');
		selection.toggle('qwen2:7b');
		expect(selection.names).toEqual(['llama3.1:8b', 'qwen2:7b']);
		selection.toggle('llama3.1:8b');
		expect(selection.has('llama3.1:8b')).toBe(false);
		expect(JSON.parse(sessionStorage.getItem(SELECTION_KEY)!)).toEqual(['qwen2:7b']);
		expect(new ModelSelection(sessionStorage).names).toEqual(['qwen2:7b']);
	});

	it('clears, and survives a corrupt saved value', () => {
		sessionStorage.setItem(SELECTION_KEY, '{oops');
		const selection = new ModelSelection(sessionStorage);
		expect(selection.names).toEqual([]);
		selection.toggle('a');
		selection.clear();
		expect(selection.names).toEqual([]);
	});
});
