import { fireEvent, render, screen } from '@testing-library/svelte';
import ErrorAlert from './ErrorAlert.svelte';

describe('ErrorAlert', () => {
	it("shows the server's message with a retry button", async () => {
		const onretry = vi.fn();
		render(ErrorAlert, { message: "node 'x' not found", title: 'Could not load', onretry });
		const alert = screen.getByTestId('error-alert');
		expect(alert).toHaveTextContent("Could not load: node 'x' not found");
		await fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
		expect(onretry).toHaveBeenCalledOnce();
	});

	it('renders nothing without a message', () => {
		render(ErrorAlert, { message: null });
		expect(screen.queryByTestId('error-alert')).toBeNull();
	});
});
