import { fireEvent, render, screen } from '@testing-library/svelte';
import { EMPTY_MODEL_SET_FORM } from '$lib/actions';
import { ApiError } from '$lib/api';
import ModelSetEditor from './ModelSetEditor.svelte';

describe('ModelSetEditor', () => {
	it('saves the wire form of what was typed', async () => {
		const onsave = vi.fn(async () => undefined);
		render(ModelSetEditor, {
			initial: { ...EMPTY_MODEL_SET_FORM, models: 'llama3.2' },
			onsave
		});
		await fireEvent.input(screen.getByTestId('set-name'), { target: { value: 'chat' } });
		await fireEvent.input(screen.getByTestId('set-selector'), { target: { value: 'zone=z1' } });
		await fireEvent.click(screen.getByLabelText(/Keep loaded/));
		await fireEvent.click(screen.getByTestId('set-save'));
		expect(onsave).toHaveBeenCalledWith({
			metadata: { name: 'chat' },
			spec: {
				models: [{ name: 'llama3.2' }],
				nodeSelector: { matchLabels: { zone: 'z1' } },
				keepLoaded: true,
				maxConcurrentPulls: 1,
				prune: false
			}
		});
	});

	it('shows what is wrong, from the form or from the server', async () => {
		const onsave = vi.fn(async () => {
			throw new ApiError(409, 'a model set named chat exists');
		});
		render(ModelSetEditor, { initial: { ...EMPTY_MODEL_SET_FORM, name: 'chat' }, onsave });
		await fireEvent.click(screen.getByTestId('set-save'));
		expect(await screen.findByTestId('set-error')).toHaveTextContent(/^Models:/);
		expect(onsave).not.toHaveBeenCalled();
		await fireEvent.input(screen.getByTestId('set-models'), { target: { value: 'm' } });
		await fireEvent.click(screen.getByTestId('set-save'));
		expect(await screen.findByTestId('set-error')).toHaveTextContent('exists');
	});

	it('keeps the name of a set being edited', () => {
		render(ModelSetEditor, {
			initial: { ...EMPTY_MODEL_SET_FORM, name: 'chat', models: 'm' },
			editing: true,
			onsave: vi.fn()
		});
		expect(screen.getByTestId('set-name')).toHaveAttribute('readonly');
		expect(screen.getByTestId('set-save')).toHaveTextContent('Save changes');
	});
});
