import { ApiError, type NodeQuery } from '$lib/api';
import { makeDetail, makeNode, makeSummary } from '$lib/testing/fixtures';
import {
	FleetStore,
	pickListFields,
	queryFromParams,
	queryToParams,
	type FleetApi
} from './fleet.svelte';

function fakeApi(names = ['a', 'b', 'c']) {
	const rows = names.map((name) => makeNode({ name }));
	const api = {
		listNodes: vi.fn(async (query: NodeQuery = {}) => ({
			items: rows,
			total: 120,
			limit: query.limit ?? 50,
			offset: query.offset ?? 0
		})),
		getNode: vi.fn(async (name: string) => makeDetail({ name, loadedCount: 3, phase: 'NotReady' })),
		getFleetSummary: vi.fn(async () => makeSummary())
	};
	return { api: api as unknown as FleetApi & typeof api, rows };
}

describe('FleetStore', () => {
	it('loads a page of rows and the summary', async () => {
		const { api } = fakeApi();
		const store = new FleetStore(api);
		await store.load();
		expect(store.items.map((n) => n.name)).toEqual(['a', 'b', 'c']);
		expect(store.total).toBe(120);
		expect(store.pageCount).toBe(3);
		expect(store.summary?.gpus).toBe(20);
		expect(store.loaded).toBe(true);
		expect(store.error).toBeNull();
	});

	it('sends search, filters and sort to the server and returns to the first page', async () => {
		const { api } = fakeApi();
		const store = new FleetStore(api);
		await store.load();
		await store.goToPage(2);
		expect(store.query.offset).toBe(100);
		await store.goToPage(99); // past the end: the last page
		expect(store.pageIndex).toBe(2);
		await store.setQuery({ search: 'h100', phase: ['Ready'], sort: '-vramTotal' });
		expect(api.listNodes).toHaveBeenLastCalledWith(
			{ search: 'h100', phase: ['Ready'], sort: '-vramTotal', limit: 50, offset: 0 },
			expect.any(AbortSignal)
		);
		expect(store.filtered).toBe(true);
	});

	it("keeps the server's message when loading fails", async () => {
		const { api } = fakeApi();
		api.listNodes.mockRejectedValueOnce(new ApiError(422, 'limit: must be at most 500'));
		const store = new FleetStore(api);
		await store.load();
		expect(store.error).toBe('limit: must be at most 500');
	});

	it('updates a changed row in place from a live event, leaving the others', async () => {
		const { api } = fakeApi();
		const store = new FleetStore(api);
		await store.load();
		const untouched = store.items[0];
		api.listNodes.mockClear();
		store.handleEvent({ type: 'node.upserted', name: 'b', phase: 'NotReady' });
		await store.flush();
		expect(api.getNode).toHaveBeenCalledWith('b');
		expect(api.listNodes).not.toHaveBeenCalled();
		expect(store.items[1]).toMatchObject({ name: 'b', phase: 'NotReady', loadedCount: 3 });
		expect(store.items[1]).not.toHaveProperty('hardware');
		expect(store.items[0]).toEqual(untouched);
		expect(store.flashed['b']).toBeGreaterThan(0);
	});

	it('reloads the page when a node appears, disappears or the stream asks to resync', async () => {
		for (const event of [
			{ type: 'node.upserted', name: 'new', created: true },
			{ type: 'node.deleted', name: 'a' },
			{ type: 'resync' }
		]) {
			const { api } = fakeApi();
			const store = new FleetStore(api);
			await store.load();
			api.listNodes.mockClear();
			store.handleEvent(event);
			await store.flush();
			expect(api.listNodes).toHaveBeenCalledTimes(1);
			expect(api.getNode).not.toHaveBeenCalled();
		}
	});

	it('reloads once instead of fetching many rows after a burst', async () => {
		const names = Array.from({ length: 8 }, (_, i) => `n${i}`);
		const { api } = fakeApi(names);
		const store = new FleetStore(api);
		await store.load();
		api.listNodes.mockClear();
		for (const name of names) store.handleEvent({ type: 'node.upserted', name });
		await store.flush();
		expect(api.listNodes).toHaveBeenCalledTimes(1);
		expect(api.getNode).not.toHaveBeenCalled();
	});

	it('batches events that arrive together, one flush a second at most', async () => {
		vi.useFakeTimers();
		try {
			const { api } = fakeApi();
			const store = new FleetStore(api);
			await store.load();
			store.handleEvent({ type: 'node.upserted', name: 'a' });
			store.handleEvent({ type: 'models.changed', name: 'a' });
			store.handleEvent({ type: 'node.upserted', name: 'c' });
			await vi.advanceTimersByTimeAsync(200);
			expect(api.getNode).toHaveBeenCalledTimes(2);
			// The next burst waits until a second has passed since this flush.
			store.handleEvent({ type: 'node.upserted', name: 'b' });
			await vi.advanceTimersByTimeAsync(500);
			expect(api.getNode).toHaveBeenCalledTimes(2);
			await vi.advanceTimersByTimeAsync(600);
			expect(api.getNode).toHaveBeenCalledTimes(3);
		} finally {
			vi.useRealTimers();
		}
	});
});

describe('FleetStore page cache and prefetch', () => {
	// Rows named after the query, so a test can tell which answer is shown.
	function sortedApi() {
		const answer = (query: NodeQuery = {}) => ({
			items: [makeNode({ name: `${query.sort ?? 'name'}@${query.offset ?? 0}` })],
			total: 120,
			limit: query.limit ?? 50,
			offset: query.offset ?? 0
		});
		const api = {
			listNodes: vi.fn(async (query: NodeQuery = {}) => answer(query)),
			getNode: vi.fn(async (name: string) => makeDetail({ name })),
			getFleetSummary: vi.fn(async () => makeSummary())
		};
		return { api: api as unknown as FleetApi & typeof api, answer };
	}
	const sorts = (api: { listNodes: { mock: { calls: unknown[][] } } }) =>
		api.listNodes.mock.calls.map(([q]) => `${(q as NodeQuery).sort}@${(q as NodeQuery).offset}`);

	it('prefetches the other order of the sorted column and the next page', async () => {
		const { api } = sortedApi();
		const store = new FleetStore(api);
		await store.setQuery({ sort: 'gpus' });
		await vi.waitFor(() => expect(sorts(api)).toEqual(['gpus@0', '-gpus@0', 'gpus@50']));
	});

	it('shows a prefetched order at once on the click, then revalidates it', async () => {
		const { api, answer } = sortedApi();
		const store = new FleetStore(api);
		await store.setQuery({ sort: 'gpus' });
		await vi.waitFor(() => expect(api.listNodes).toHaveBeenCalledTimes(3));
		let release: (value: ReturnType<typeof answer>) => void = () => {};
		api.listNodes.mockImplementationOnce(() => new Promise((ok) => (release = ok)));
		const clicked = store.setQuery({ sort: '-gpus' });
		// Before the server answered: the rows are the prefetched ones, no loading indicator.
		expect(store.items.map((n) => n.name)).toEqual(['-gpus@0']);
		expect(store.loading).toBe(false);
		expect(api.listNodes).toHaveBeenLastCalledWith(
			expect.objectContaining({ sort: '-gpus', offset: 0 }),
			expect.any(AbortSignal)
		);
		// The revalidation's answer wins when it differs.
		release({ ...answer({ sort: '-gpus' }), items: [makeNode({ name: 'changed' })] });
		await clicked;
		expect(store.items.map((n) => n.name)).toEqual(['changed']);
	});

	it('forgets cached pages when a live event says the fleet changed', async () => {
		const { api } = sortedApi();
		const store = new FleetStore(api);
		await store.setQuery({ sort: 'gpus' });
		await vi.waitFor(() => expect(api.listNodes).toHaveBeenCalledTimes(3));
		store.handleEvent({ type: 'node.upserted', name: 'gpus@0', phase: 'NotReady' });
		let release: () => void = () => {};
		api.listNodes.mockImplementationOnce(
			() =>
				new Promise(
					(ok) =>
						(release = () =>
							ok({ items: [makeNode({ name: 'fresh' })], total: 1, limit: 50, offset: 0 })) as never
				) as never
		);
		const clicked = store.setQuery({ sort: '-gpus' });
		expect(store.items.map((n) => n.name)).toEqual(['gpus@0']); // not the stale prefetch
		expect(store.loading).toBe(true);
		release();
		await clicked;
		expect(store.items.map((n) => n.name)).toEqual(['fresh']);
		store.dispose();
	});

	it('takes the requests app.html started for the same query instead of asking again', async () => {
		const { api, answer } = sortedApi();
		window.__obtEarly = {
			key: '',
			list: Promise.resolve({ ...answer(), items: [makeNode({ name: 'early' })] }),
			summary: Promise.resolve(makeSummary({ gpus: 7 }))
		};
		const store = new FleetStore(api, { subscribe: () => () => {} } as never);
		const stop = store.start({ sort: 'name', limit: 50, offset: 0 });
		await vi.waitFor(() => expect(store.items.map((n) => n.name)).toEqual(['early']));
		await vi.waitFor(() => expect(store.summary?.gpus).toBe(7));
		expect(api.getFleetSummary).not.toHaveBeenCalled();
		expect(window.__obtEarly).toBeUndefined();
		stop();
	});

	it('asks the API itself when the early requests were for another query or failed', async () => {
		const { api } = sortedApi();
		window.__obtEarly = {
			key: 'sort=-gpus',
			list: Promise.resolve(null),
			summary: Promise.resolve(null)
		};
		const store = new FleetStore(api, { subscribe: () => () => {} } as never);
		const stop = store.start({ sort: 'name', limit: 50, offset: 0 });
		await vi.waitFor(() => expect(store.items.map((n) => n.name)).toEqual(['name@0']));
		stop();
		const failing = sortedApi();
		window.__obtEarly = {
			key: '',
			list: Promise.reject(new Error('HTTP 503')),
			summary: Promise.reject(new Error('HTTP 503'))
		};
		const again = new FleetStore(failing.api, { subscribe: () => () => {} } as never);
		const stopAgain = again.start({ sort: 'name', limit: 50, offset: 0 });
		await vi.waitFor(() => expect(again.items.map((n) => n.name)).toEqual(['name@0']));
		expect(failing.api.getFleetSummary).toHaveBeenCalledTimes(1);
		stopAgain();
	});
});

describe('pickListFields', () => {
	it('keeps the list columns of a node detail and nothing else', () => {
		const row = pickListFields(makeDetail({ name: 'x' }));
		expect(row.name).toBe('x');
		expect(row.gpuSummary).toBe('2x H100 80GB');
		expect(Object.keys(row)).not.toContain('hardware');
		expect(Object.keys(row)).not.toContain('models');
	});
});

describe('query <-> URL parameters', () => {
	it('round-trips search, filters, sort and page, leaving defaults out', () => {
		const query = {
			search: 'h100',
			phase: ['Ready', 'NotReady'] as NodeQuery['phase'],
			gpuVendor: ['nvidia'],
			hasModel: 'llama3.1:8b',
			sort: '-vramTotal' as const,
			limit: 50,
			offset: 100
		};
		const params = queryToParams(query);
		expect(params.toString()).toBe(
			'search=h100&phase=Ready&phase=NotReady&gpuVendor=nvidia&hasModel=llama3.1%3A8b&sort=-vramTotal&offset=100'
		);
		expect(queryFromParams(params)).toEqual(query);
		expect(queryToParams({ sort: 'name', limit: 50, offset: 0 }).toString()).toBe('');
	});

	it('ignores values the API would reject', () => {
		const query = queryFromParams(
			new URLSearchParams('phase=Sleeping&sort=bogus&limit=9999&offset=-3')
		);
		expect(query).toEqual({ sort: 'name', limit: 50, offset: 0 });
	});
});
