import { fireEvent, render, screen } from '@testing-library/svelte';
import { ApiError } from '$lib/api';
import RemoveHost from './RemoveHost.svelte';

// jsdom has <dialog> but not its modal methods everywhere: open and close it by the attribute.
beforeAll(() => {
	const proto = HTMLDialogElement.prototype as HTMLDialogElement & Record<string, unknown>;
	proto.showModal ??= function (this: HTMLDialogElement) {
		this.setAttribute('open', '');
	};
	proto.close ??= function (this: HTMLDialogElement) {
		this.removeAttribute('open');
	};
});

describe('RemoveHost', () => {
	it('asks for confirmation, then removes the host', async () => {
		const onremove = vi.fn(async () => undefined);
		render(RemoveHost, { name: 'desk', onremove });
		await fireEvent.click(screen.getByTestId('remove-host'));
		expect(screen.getByTestId('remove-host-dialog')).toHaveAttribute('open');
		expect(screen.getByText('Remove desk?')).toBeInTheDocument();
		expect(onremove).not.toHaveBeenCalled();
		await fireEvent.click(screen.getByTestId('remove-host-confirm'));
		expect(onremove).toHaveBeenCalledOnce();
		await vi.waitFor(() =>
			expect(screen.getByTestId('remove-host-dialog')).not.toHaveAttribute('open')
		);
	});

	it("keeps the dialog open with the server's message when refused", async () => {
		const onremove = vi.fn(async () => {
			throw new ApiError(403, 'this operation needs the admin role');
		});
		render(RemoveHost, { name: 'desk', onremove });
		await fireEvent.click(screen.getByTestId('remove-host'));
		await fireEvent.click(screen.getByTestId('remove-host-confirm'));
		expect(await screen.findByRole('alert')).toHaveTextContent('needs the admin role');
		await fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
		expect(screen.getByTestId('remove-host-dialog')).not.toHaveAttribute('open');
	});
});
