import type { CompareMatrix, History, OllamaBenchmark } from '$lib/api';
import {
	BENCHMARKS_PAGE_SIZE,
	BenchmarkStore,
	BenchmarksStore,
	FOLLOW_MS,
	ResultsStore,
	type BenchmarksApi
} from './benchmarks.svelte';
import type { LiveEvent, LiveSource } from './live.svelte';

function makeBench(name: string, phase: 'Running' | 'Succeeded'): OllamaBenchmark {
	return {
		metadata: { name, creationTimestamp: '2026-12-03T20:00:00Z' },
		spec: { models: [{ name: 'm' }], nodes: ['a'] },
		status: { phase, selected: 1 }
	};
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

const COMPARE: CompareMatrix = { nodes: [], rows: [] };
const HISTORY: History = { node: 'a', model: 'm', points: [] };

function fakeApi(benches: OllamaBenchmark[]) {
	const api = {
		listBenchmarks: vi.fn(async () => ({
			items: benches,
			total: benches.length,
			limit: 50,
			offset: 0
		})),
		getBenchmark: vi.fn(async (name: string) => benches.find((b) => b.metadata.name === name)!),
		createBenchmark: vi.fn(async () => benches[0]),
		cancelBenchmark: vi.fn(async (name: string) => {
			const b = benches.find((x) => x.metadata.name === name)!;
			return { ...b, spec: { ...b.spec, cancel: true } };
		}),
		compareBenchmarkResults: vi.fn(async () => COMPARE),
		getBenchmarkHistory: vi.fn(async () => HISTORY)
	};
	return api as unknown as BenchmarksApi & typeof api;
}

describe('BenchmarksStore', () => {
	afterEach(() => vi.useRealTimers());

	it('lists a page and knows one is running', async () => {
		const api = fakeApi([makeBench('new', 'Running'), makeBench('old', 'Succeeded')]);
		const store = new BenchmarksStore(api, fakeLive().live);
		await store.load();
		expect(api.listBenchmarks).toHaveBeenCalledWith({ limit: BENCHMARKS_PAGE_SIZE, offset: 0 });
		expect(store.items.map((b) => b.metadata.name)).toEqual(['new', 'old']);
		expect(store.running).toBe(true);
	});

	it('reloads once benchmark events settle, not on other events', async () => {
		vi.useFakeTimers();
		const api = fakeApi([makeBench('done', 'Succeeded')]);
		const { live, send } = fakeLive();
		const store = new BenchmarksStore(api, live);
		const stop = store.start();
		await vi.advanceTimersByTimeAsync(0);
		expect(api.listBenchmarks).toHaveBeenCalledTimes(1);
		send({ type: 'task.progress', name: 'x' });
		send({ type: 'benchmark.progress', name: 'done' });
		send({ type: 'benchmark.changed', name: 'done' });
		await vi.advanceTimersByTimeAsync(1000);
		expect(api.listBenchmarks).toHaveBeenCalledTimes(2);
		stop();
	});
});

describe('BenchmarkStore', () => {
	afterEach(() => vi.useRealTimers());

	it('follows a running benchmark and stops when it is over', async () => {
		vi.useFakeTimers();
		const bench = makeBench('b1', 'Running');
		const api = fakeApi([bench]);
		const store = new BenchmarkStore('b1', api, fakeLive().live);
		const stop = store.start();
		await vi.advanceTimersByTimeAsync(FOLLOW_MS * 2);
		expect(api.getBenchmark.mock.calls.length).toBeGreaterThanOrEqual(3);
		bench.status = { phase: 'Succeeded', selected: 1, done: 1 };
		await vi.advanceTimersByTimeAsync(FOLLOW_MS);
		const calls = api.getBenchmark.mock.calls.length;
		await vi.advanceTimersByTimeAsync(FOLLOW_MS * 3);
		expect(api.getBenchmark.mock.calls.length).toBe(calls);
		expect(store.finished).toBe(true);
		stop();
	});

	it('reloads on its own result event and cancels', async () => {
		const api = fakeApi([makeBench('b1', 'Running')]);
		const { live, send } = fakeLive();
		const store = new BenchmarkStore('b1', api, live);
		const stop = store.start();
		await Promise.resolve();
		const before = api.getBenchmark.mock.calls.length;
		send({ type: 'benchmark.result', name: 'r', benchmark: 'other' });
		expect(api.getBenchmark.mock.calls.length).toBe(before);
		send({ type: 'benchmark.result', name: 'r', benchmark: 'b1' });
		expect(api.getBenchmark.mock.calls.length).toBe(before + 1);
		await store.cancel();
		expect(api.cancelBenchmark).toHaveBeenCalledWith('b1');
		expect(store.benchmark?.spec.cancel).toBe(true);
		stop();
	});
});

describe('ResultsStore', () => {
	it('loads the comparison and a history, and reloads both when a result arrives', async () => {
		vi.useFakeTimers();
		const api = fakeApi([]);
		const { live, send } = fakeLive();
		const store = new ResultsStore(undefined, api, live);
		const stop = store.start();
		await vi.advanceTimersByTimeAsync(0);
		expect(store.compare).toEqual(COMPARE);
		await store.showHistory('a', 'm');
		expect(api.getBenchmarkHistory).toHaveBeenCalledWith('a', 'm');
		expect(store.history).toEqual(HISTORY);
		send({ type: 'benchmark.result', name: 'r', benchmark: 'b' });
		await vi.advanceTimersByTimeAsync(1000);
		expect(api.compareBenchmarkResults).toHaveBeenCalledTimes(2);
		expect(api.getBenchmarkHistory).toHaveBeenCalledTimes(2);
		stop();
		vi.useRealTimers();
	});
});
