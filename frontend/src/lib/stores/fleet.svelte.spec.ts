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
