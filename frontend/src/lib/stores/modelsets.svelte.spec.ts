import { ApiError, type OllamaModelSet } from '$lib/api';
import type { LiveEvent, LiveSource } from './live.svelte';
import { ModelSetsStore, SETS_REFRESH_MS, type ModelSetsApi } from './modelsets.svelte';

function makeSet(name: string): OllamaModelSet {
	return {
		metadata: { name },
		spec: { models: [{ name: 'llama3.2:latest' }], nodeSelector: {} },
		status: { selected: 3, ready: 1, pulling: 1, failed: 1 }
	};
}

function fakeApi(sets: OllamaModelSet[]) {
	const api = {
		listModelSets: vi.fn(async () => ({ items: sets, total: sets.length, limit: 500, offset: 0 })),
		getModelSet: vi.fn(async (name: string) => makeSet(name)),
		createModelSet: vi.fn(async (set: { metadata: { name: string } }) =>
			makeSet(set.metadata.name)
		),
		updateModelSet: vi.fn(async (name: string) => makeSet(name)),
		deleteModelSet: vi.fn(async () => undefined)
	};
	return api as unknown as ModelSetsApi & typeof api;
}

function fakeLive() {
	let listener: ((e: LiveEvent) => void) | null = null;
	const live: LiveSource = {
		subscribe: (fn) => {
			listener = fn;
			return () => (listener = null);
		}
	};
	return { live, send: (e: LiveEvent) => listener?.(e) };
}

describe('ModelSetsStore', () => {
	afterEach(() => vi.useRealTimers());

	it('lists the sets by name', async () => {
		const store = new ModelSetsStore(fakeApi([makeSet('b'), makeSet('a')]), fakeLive().live);
		await store.load();
		expect(store.items.map((s) => s.metadata.name)).toEqual(['a', 'b']);
		expect(store.total).toBe(2);
	});

	it("keeps the server's message when loading fails", async () => {
		const api = fakeApi([]);
		api.listModelSets.mockRejectedValueOnce(new ApiError(500, 'database unavailable'));
		const store = new ModelSetsStore(api, fakeLive().live);
		await store.load();
		expect(store.error).toBe('database unavailable');
	});

	it('creates, replaces and deletes', async () => {
		const api = fakeApi([makeSet('a')]);
		const store = new ModelSetsStore(api, fakeLive().live);
		const set = { metadata: { name: 'n' }, spec: { models: [{ name: 'm' }] } };
		await store.save(set);
		expect(api.createModelSet).toHaveBeenCalledWith(set);
		await store.save(set, 'n');
		expect(api.updateModelSet).toHaveBeenCalledWith('n', set);
		expect(api.listModelSets).toHaveBeenCalledTimes(2);
		await store.remove('a');
		expect(api.deleteModelSet).toHaveBeenCalledWith('a');
		expect(store.items).toEqual([]);
	});

	it('reloads on modelset.changed (settled) and every few seconds', async () => {
		vi.useFakeTimers();
		const api = fakeApi([makeSet('a')]);
		const live = fakeLive();
		const store = new ModelSetsStore(api, live.live);
		const stop = store.start();
		await vi.advanceTimersByTimeAsync(0);
		expect(api.listModelSets).toHaveBeenCalledTimes(1);
		live.send({ type: 'task.progress', name: 't' });
		live.send({ type: 'modelset.changed', name: 'a' });
		live.send({ type: 'modelset.changed', name: 'a' });
		await vi.advanceTimersByTimeAsync(400);
		expect(api.listModelSets).toHaveBeenCalledTimes(2);
		await vi.advanceTimersByTimeAsync(SETS_REFRESH_MS);
		expect(api.listModelSets).toHaveBeenCalledTimes(3);
		stop();
		await vi.advanceTimersByTimeAsync(SETS_REFRESH_MS * 2);
		expect(api.listModelSets).toHaveBeenCalledTimes(3);
	});
});
