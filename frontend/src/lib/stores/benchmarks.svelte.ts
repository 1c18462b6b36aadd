import { untrack } from 'svelte';
import {
	cancelBenchmark,
	compareBenchmarkResults,
	createBenchmark,
	describeError,
	getBenchmark,
	getBenchmarkHistory,
	listBenchmarks,
	type CompareMatrix,
	type History,
	type NewBenchmark,
	type OllamaBenchmark
} from '$lib/api';
import { benchmarkFinished } from '$lib/benchmarks';
import { live as defaultLive, type LiveEvent, type LiveSource } from './live.svelte';

export interface BenchmarksApi {
	listBenchmarks: typeof listBenchmarks;
	getBenchmark: typeof getBenchmark;
	createBenchmark: typeof createBenchmark;
	cancelBenchmark: typeof cancelBenchmark;
	compareBenchmarkResults: typeof compareBenchmarkResults;
	getBenchmarkHistory: typeof getBenchmarkHistory;
}

const DEFAULT_API: BenchmarksApi = {
	listBenchmarks,
	getBenchmark,
	createBenchmark,
	cancelBenchmark,
	compareBenchmarkResults,
	getBenchmarkHistory
};

/** A benchmark is followed this often while it runs (live events make it sooner). */
export const FOLLOW_MS = 1000;
/** The list reloads this often while some benchmark runs, and once events settle. */
export const LIST_REFRESH_MS = 3000;
const SETTLE_MS = 300;
export const BENCHMARKS_PAGE_SIZE = 50;

const BENCH_EVENTS = new Set(['benchmark.progress', 'benchmark.changed', 'resync']);

/**
 * The Benchmarks page: the list newest first, a page at a time, reloaded on benchmark events
 * (settled) and every few seconds while one on the page runs. `start()` loads and subscribes.
 */
export class BenchmarksStore {
	items = $state<OllamaBenchmark[]>([]);
	total = $state(0);
	pageIndex = $state(0);
	error = $state<string | null>(null);
	loaded = $state(false);

	private readonly api: BenchmarksApi;
	private readonly live: LiveSource;
	private timer: ReturnType<typeof setTimeout> | undefined;

	constructor(api: BenchmarksApi = DEFAULT_API, live: LiveSource = defaultLive) {
		this.api = api;
		this.live = live;
	}

	get pageCount(): number {
		return Math.max(1, Math.ceil(this.total / BENCHMARKS_PAGE_SIZE));
	}

	goTo(index: number): Promise<void> {
		this.pageIndex = Math.min(Math.max(0, index), this.pageCount - 1);
		return this.load();
	}

	get running(): boolean {
		return this.items.some((b) => !benchmarkFinished(b.status?.phase));
	}

	async load(): Promise<void> {
		try {
			const page = await this.api.listBenchmarks({
				limit: BENCHMARKS_PAGE_SIZE,
				offset: this.pageIndex * BENCHMARKS_PAGE_SIZE
			});
			this.items = page.items;
			this.total = page.total;
			this.error = null;
			this.loaded = true;
		} catch (err) {
			this.error = describeError(err);
		}
	}

	/** Start a benchmark (operator); the list shows it at once. */
	async create(benchmark: NewBenchmark): Promise<OllamaBenchmark> {
		const created = await this.api.createBenchmark(benchmark);
		await this.load();
		return created;
	}

	handleEvent(event: LiveEvent): void {
		if (!BENCH_EVENTS.has(event.type)) return;
		clearTimeout(this.timer);
		this.timer = setTimeout(() => void this.load(), SETTLE_MS);
	}

	start(): () => void {
		void untrack(() => this.load());
		const unsubscribe = this.live.subscribe((event) => this.handleEvent(event));
		const refresh = setInterval(() => {
			if (this.running) void this.load();
		}, LIST_REFRESH_MS);
		return () => {
			clearTimeout(this.timer);
			clearInterval(refresh);
			unsubscribe();
		};
	}
}

/** One benchmark followed until it finishes: GET every second, and at once on its events. */
export class BenchmarkStore {
	benchmark = $state<OllamaBenchmark | null>(null);
	error = $state<string | null>(null);
	gone = $state(false);
	busy = $state(false);

	readonly name: string;
	private readonly api: BenchmarksApi;
	private readonly live: LiveSource;
	private stopped = false;

	constructor(name: string, api: BenchmarksApi = DEFAULT_API, live: LiveSource = defaultLive) {
		this.name = name;
		this.api = api;
		this.live = live;
	}

	get finished(): boolean {
		return benchmarkFinished(this.benchmark?.status?.phase);
	}

	async load(): Promise<void> {
		try {
			const benchmark = await this.api.getBenchmark(this.name);
			if (this.stopped) return;
			this.benchmark = benchmark;
			this.error = null;
		} catch (err) {
			if (this.stopped) return;
			this.error = describeError(err);
			if ((err as { status?: number }).status === 404) this.gone = true;
		}
	}

	/** Stop the benchmark (operator): pairs not measured yet end Cancelled. */
	async cancel(): Promise<void> {
		this.busy = true;
		try {
			this.benchmark = await this.api.cancelBenchmark(this.name);
			this.error = null;
		} catch (err) {
			this.error = describeError(err);
		} finally {
			this.busy = false;
		}
	}

	handleEvent(event: LiveEvent): void {
		if (event.type === 'resync') void this.load();
		else if (
			(event.type === 'benchmark.progress' || event.type === 'benchmark.changed') &&
			event.name === this.name
		)
			void this.load();
		else if (event.type === 'benchmark.result' && event.benchmark === this.name) void this.load();
	}

	start(): () => void {
		this.stopped = false;
		void untrack(() => this.load());
		const unsubscribe = this.live.subscribe((event) => this.handleEvent(event));
		const poll = setInterval(() => {
			if (!this.gone && !this.finished) void this.load();
		}, FOLLOW_MS);
		return () => {
			this.stopped = true;
			clearInterval(poll);
			unsubscribe();
		};
	}
}

/**
 * The results: the compare matrix (optionally of one model), reloaded when a result is stored,
 * and the history of one node+model when one is chosen.
 */
export class ResultsStore {
	compare = $state<CompareMatrix | null>(null);
	history = $state<History | null>(null);
	error = $state<string | null>(null);
	historyError = $state<string | null>(null);
	loaded = $state(false);

	private readonly api: BenchmarksApi;
	private readonly live: LiveSource;
	private readonly model: string | undefined;
	private timer: ReturnType<typeof setTimeout> | undefined;
	private asked = 0;

	constructor(
		model: string | undefined = undefined,
		api: BenchmarksApi = DEFAULT_API,
		live: LiveSource = defaultLive
	) {
		this.model = model;
		this.api = api;
		this.live = live;
	}

	async load(): Promise<void> {
		try {
			this.compare = await this.api.compareBenchmarkResults(this.model);
			this.error = null;
			this.loaded = true;
		} catch (err) {
			this.error = describeError(err);
		}
	}

	/** The history of one node+model (the answer to the latest choice wins). */
	async showHistory(node: string, model: string): Promise<void> {
		const mine = ++this.asked;
		try {
			const history = await this.api.getBenchmarkHistory(node, model);
			if (mine !== this.asked) return;
			this.history = history;
			this.historyError = null;
		} catch (err) {
			if (mine === this.asked) this.historyError = describeError(err);
		}
	}

	handleEvent(event: LiveEvent): void {
		if (event.type !== 'benchmark.result' && event.type !== 'resync') return;
		clearTimeout(this.timer);
		this.timer = setTimeout(() => {
			void this.load();
			const h = this.history;
			if (h) void this.showHistory(h.node, h.model);
		}, SETTLE_MS);
	}

	start(): () => void {
		void untrack(() => this.load());
		const unsubscribe = this.live.subscribe((event) => this.handleEvent(event));
		return () => {
			clearTimeout(this.timer);
			unsubscribe();
		};
	}
}
