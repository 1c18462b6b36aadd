import { ApiError } from '$lib/api';
import {
	makeDetail,
	makeModelDetail,
	makeNode,
	makeRemoved,
	makeSummary,
	makeVariant
} from '$lib/testing/fixtures';
import { FleetStore, type FleetApi } from './fleet.svelte';
import type { LiveEvent } from './live.svelte';
import { ModelsStore, MODELS_PAGE_SIZE, type ModelsApi } from './models.svelte';
import { NodeStore, TELEMETRY_REFRESH_MS, type NodeApi } from './node.svelte';
import { RemovedStore, type RemovedApi } from './removed.svelte';

// Every page store has the same shape: start() loads and subscribes to the live connection,
// and the function it returns unsubscribes (and stops its timers).
function fakeLive() {
	const listeners = new Set<(e: LiveEvent) => void>();
	return {
		listeners,
		subscribe(listener: (e: LiveEvent) => void) {
			listeners.add(listener);
			return () => {
				listeners.delete(listener);
			};
		},
		emit(event: LiveEvent) {
			for (const l of listeners) l(event);
		}
	};
}

describe('page stores: start() loads, follows live events, and stops', () => {
	afterEach(() => vi.useRealTimers());

	it('NodeStore.remove decommissions the host and marks it removed', async () => {
		const api = {
			getNode: vi.fn(async () => makeDetail()),
			decommissionNode: vi.fn(async () => undefined)
		};
		const store = new NodeStore('desk', api as unknown as NodeApi, fakeLive());
		await store.remove();
		expect(api.decommissionNode).toHaveBeenCalledWith('desk');
		expect(store.removed).toBe(true);
		const without = new NodeStore(
			'desk',
			{ getNode: api.getNode } as unknown as NodeApi,
			fakeLive()
		);
		await expect(without.remove()).rejects.toThrow('not available');
	});

	it('NodeStore loads its node, reloads on its events, marks a removal, refreshes telemetry', async () => {
		vi.useFakeTimers();
		const live = fakeLive();
		const api = { getNode: vi.fn(async () => makDetailNamed('gpu-01')) };
		const store = new NodeStore('gpu-01', api as unknown as NodeApi, live);
		const stop = store.start();
		await vi.advanceTimersByTimeAsync(0);
		expect(store.node?.name).toBe('gpu-01');
		expect(api.getNode).toHaveBeenCalledTimes(1);

		live.emit({ type: 'node.upserted', name: 'other' });
		await vi.advanceTimersByTimeAsync(0);
		expect(api.getNode).toHaveBeenCalledTimes(1);
		live.emit({ type: 'node.upserted', name: 'gpu-01' });
		await vi.advanceTimersByTimeAsync(0);
		expect(api.getNode).toHaveBeenCalledTimes(2);

		await vi.advanceTimersByTimeAsync(TELEMETRY_REFRESH_MS);
		expect(api.getNode).toHaveBeenCalledTimes(3);

		live.emit({ type: 'node.deleted', name: 'gpu-01' });
		expect(store.removed).toBe(true);
		await vi.advanceTimersByTimeAsync(TELEMETRY_REFRESH_MS);
		expect(api.getNode).toHaveBeenCalledTimes(3); // no refresh of a removed node

		stop();
		expect(live.listeners.size).toBe(0);
	});

	it("NodeStore keeps the server's message when the node is not found", async () => {
		const api = {
			getNode: vi.fn(async () => {
				throw new ApiError(404, "node 'nope' not found");
			})
		};
		const store = new NodeStore('nope', api as unknown as NodeApi, fakeLive());
		await store.load();
		expect(store.error).toContain("node 'nope' not found");
		expect(store.node).toBeNull();
	});

	it('ModelsStore loads a page, debounces the search back to page one, reloads on models.changed', async () => {
		vi.useFakeTimers();
		const live = fakeLive();
		const api = {
			listModels: vi.fn(async () => ({
				items: [makeVariant()],
				total: 250,
				limit: 100,
				offset: 0
			})),
			getModel: vi.fn(async () => makeModelDetail())
		};
		const store = new ModelsStore(api as unknown as ModelsApi, live);
		const stop = store.start();
		await vi.advanceTimersByTimeAsync(0);
		expect(store.loaded).toBe(true);
		expect(store.pageCount).toBe(3);

		await store.goToPage(2);
		expect(api.listModels).toHaveBeenLastCalledWith({
			search: '',
			limit: MODELS_PAGE_SIZE,
			offset: 2 * MODELS_PAGE_SIZE
		});
		store.setSearch('lla');
		store.setSearch('llama');
		await vi.advanceTimersByTimeAsync(300);
		expect(api.listModels).toHaveBeenCalledTimes(3); // start, page 3, one search
		expect(api.listModels).toHaveBeenLastCalledWith({
			search: 'llama',
			limit: MODELS_PAGE_SIZE,
			offset: 0
		});

		await store.loadSelection(['llama3.1:8b']);
		expect(store.details).toHaveLength(1);
		live.emit({ type: 'models.changed', name: 'x' });
		await vi.advanceTimersByTimeAsync(400);
		expect(api.listModels).toHaveBeenCalledTimes(4);
		expect(api.getModel).toHaveBeenCalledTimes(2);

		stop();
		expect(live.listeners.size).toBe(0);
	});

	it('FleetStore and RemovedStore start from the query given and stop following events', async () => {
		vi.useFakeTimers();
		const live = fakeLive();
		const fleetApi = {
			listNodes: vi.fn(async () => ({ items: [makeNode()], total: 1, limit: 50, offset: 0 })),
			getNode: vi.fn(async () => makeDetail()),
			getFleetSummary: vi.fn(async () => makeSummary())
		};
		const removedApi = { listRemovedNodes: vi.fn(async () => [makeRemoved()]) };
		const fleet = new FleetStore(fleetApi as unknown as FleetApi, live);
		const removed = new RemovedStore(removedApi as unknown as RemovedApi, live);
		const stops = [fleet.start({ sort: '-gpus', limit: 50, offset: 0 }), removed.start()];
		await vi.advanceTimersByTimeAsync(0);
		expect(fleetApi.listNodes).toHaveBeenCalledWith(
			expect.objectContaining({ sort: '-gpus' }),
			expect.anything()
		);
		expect(fleet.items).toHaveLength(1);
		expect(removed.items).toHaveLength(1);
		expect(live.listeners.size).toBe(2);

		// A sort change reloads the rows but not the fleet-wide summary.
		await fleet.setQuery({ sort: 'name' });
		expect(fleetApi.listNodes).toHaveBeenCalledTimes(2);
		expect(fleetApi.getFleetSummary).toHaveBeenCalledTimes(1);

		for (const stop of stops) stop();
		expect(live.listeners.size).toBe(0);
	});
});

function makDetailNamed(name: string) {
	return makeDetail({ name });
}
