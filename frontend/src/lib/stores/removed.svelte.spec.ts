import { ApiError } from '$lib/api';
import { makeRemoved } from '$lib/testing/fixtures';
import { REMOVED_LIMIT, RemovedStore, type RemovedApi } from './removed.svelte';

function fakeApi() {
	const api = { listRemovedNodes: vi.fn(async () => [makeRemoved()]) };
	return api as unknown as RemovedApi & typeof api;
}

describe('RemovedStore', () => {
	afterEach(() => vi.useRealTimers());

	it('loads the recently removed nodes', async () => {
		const api = fakeApi();
		const store = new RemovedStore(api);
		await store.load();
		expect(api.listRemovedNodes).toHaveBeenCalledWith(REMOVED_LIMIT);
		expect(store.items.map((n) => n.name)).toEqual(['gaming-pc']);
		expect(store.error).toBeNull();
	});

	it("keeps the server's message when loading fails", async () => {
		const api = fakeApi();
		api.listRemovedNodes.mockRejectedValueOnce(new ApiError(503, 'database unavailable'));
		const store = new RemovedStore(api);
		await store.load();
		expect(store.error).toContain('database unavailable');
	});

	it('reloads once after removals, comebacks and resyncs, not for other events', async () => {
		vi.useFakeTimers();
		const api = fakeApi();
		const store = new RemovedStore(api);
		store.handleEvent({ type: 'node.upserted', name: 'x', created: false });
		store.handleEvent({ type: 'models.changed', name: 'x' });
		await vi.advanceTimersByTimeAsync(1000);
		expect(api.listRemovedNodes).not.toHaveBeenCalled();

		store.handleEvent({ type: 'node.deleted', name: 'a' });
		store.handleEvent({ type: 'node.deleted', name: 'b' });
		store.handleEvent({ type: 'node.upserted', name: 'a', created: true });
		await vi.advanceTimersByTimeAsync(1000);
		expect(api.listRemovedNodes).toHaveBeenCalledTimes(1);

		store.handleEvent({ type: 'resync' });
		store.dispose(); // a page that went away loads nothing
		await vi.advanceTimersByTimeAsync(1000);
		expect(api.listRemovedNodes).toHaveBeenCalledTimes(1);
	});
});
