import { untrack } from 'svelte';
import {
	describeError,
	getFleetSummary,
	getNode,
	listNodes,
	type FleetSummary,
	type NodeListItem,
	type NodeQuery
} from '$lib/api';
import { takeEarly } from '$lib/api/early';
import { DEFAULT_PAGE_SIZE, queryToParams } from './fleetQuery';
import { live as defaultLive, type LiveEvent, type LiveSource } from './live.svelte';

export interface FleetApi {
	listNodes: typeof listNodes;
	getNode: typeof getNode;
	getFleetSummary: typeof getFleetSummary;
}

type NodePage = Awaited<ReturnType<typeof listNodes>>;

export { DEFAULT_PAGE_SIZE, queryFromParams, queryToParams } from './fleetQuery';

// Live events arrive in bursts (a fleet restarting reports at once): collect them for this long,
// then fetch once per changed row, or reload the page when too many rows changed to patch.
const FLUSH_MS = 150;
const MAX_ROW_FETCHES = 5;
// At most one flush a second: with at most 5 rows + the summary that is under 400 requests a
// minute, inside the API's default per-address limit (600/min) even while the fleet churns.
const MIN_FLUSH_INTERVAL_MS = 1000;
// Pages already seen or prefetched, answered from memory at once and then revalidated
// (stale-while-revalidate). Any live event empties it: the fleet changed.
const CACHE_PAGES = 8;
// After a page shows, fetch the orders/pages a person most likely asks for next; a little later,
// so that the requests do not compete with painting the rows.
const PREFETCH_DELAY_MS = 300;

/**
 * The fleet page's state: the query (search, filters, sort, page), the page of rows the server
 * returned, the summary cards, and the in-place updates that live events cause. The server does
 * search, filtering, sorting and pagination, so 5,000 nodes cost the browser one page of rows.
 */
export class FleetStore {
	query = $state<NodeQuery>({ sort: 'name', limit: DEFAULT_PAGE_SIZE, offset: 0 });
	// Raw: rows are replaced, never mutated, so no deep proxy per row and field.
	items = $state.raw<NodeListItem[]>([]);
	total = $state(0);
	summary = $state<FleetSummary | null>(null);
	loading = $state(false);
	error = $state<string | null>(null);
	/** Names of rows changed by a live event in the last moments, to flash them. */
	flashed = $state<Record<string, number>>({});
	/** True once the first page answered: tells "no nodes yet" from "still loading". */
	loaded = $state(false);
	/** Clock for "last seen" and the flash, ticked each second while started. */
	now = $state(Date.now());

	private readonly api: FleetApi;
	private readonly live: LiveSource;
	private controller: AbortController | null = null;
	// eslint-disable-next-line svelte/prefer-svelte-reactivity -- bookkeeping, never rendered
	private pendingRows = new Set<string>();
	private reloadPending = false;
	private flushTimer: ReturnType<typeof setTimeout> | null = null;
	private lastFlushAt = 0;
	// eslint-disable-next-line svelte/prefer-svelte-reactivity -- a cache, never rendered
	private cache = new Map<string, NodePage>();
	// eslint-disable-next-line svelte/prefer-svelte-reactivity -- requests in flight, never rendered
	private inflight = new Map<string, Promise<NodePage>>();
	/** Bumped by every live event: answers to requests sent before it are not cached. */
	private generation = 0;
	private prefetchTimer: ReturnType<typeof setTimeout> | null = null;
	private first = true;

	constructor(
		api: FleetApi = { listNodes, getNode, getFleetSummary },
		live: LiveSource = defaultLive
	) {
		this.api = api;
		this.live = live;
	}

	/**
	 * Load `query` (from the URL) and the summary, follow live events and tick the clock; the
	 * function returned stops all of it (the page's effect).
	 */
	start(query?: NodeQuery): () => void {
		untrack(() => {
			if (query) this.query = query;
			void this.load({ prefetch: true });
		});
		const unsubscribe = this.live.subscribe((event) => this.handleEvent(event));
		const clock = setInterval(() => (this.now = Date.now()), 1000);
		return () => {
			unsubscribe();
			clearInterval(clock);
			this.dispose();
		};
	}

	get filtered(): boolean {
		const q = this.query;
		return Boolean(q.search?.trim() || q.phase?.length || q.gpuVendor?.length || q.hasModel);
	}

	get pageCount(): number {
		return Math.max(1, Math.ceil(this.total / (this.query.limit ?? DEFAULT_PAGE_SIZE)));
	}

	get pageIndex(): number {
		return Math.floor((this.query.offset ?? 0) / (this.query.limit ?? DEFAULT_PAGE_SIZE));
	}

	/** Change search, filters or sort: back to the first page. */
	async setQuery(change: Partial<NodeQuery>): Promise<void> {
		this.query = { ...this.query, ...change, offset: change.offset ?? 0 };
		await this.load({ summary: false, prefetch: true });
	}

	async goToPage(index: number): Promise<void> {
		const limit = this.query.limit ?? DEFAULT_PAGE_SIZE;
		const clamped = Math.max(0, Math.min(index, this.pageCount - 1));
		this.query = { ...this.query, offset: clamped * limit };
		await this.load({ summary: false, prefetch: true });
	}

	/**
	 * Fetch the page of rows for the query and, unless `summary` is false, the fleet-wide summary
	 * (it does not depend on the query: a sort, filter or page change leaves it as it is).
	 * A page already in the cache shows at once and is revalidated; `prefetch` then fetches the
	 * likely next pages (the current column's other order, the next page) in the background.
	 */
	async load({
		summary: withSummary = true,
		prefetch = false
	}: { summary?: boolean; prefetch?: boolean } = {}): Promise<void> {
		this.controller?.abort();
		const controller = new AbortController();
		this.controller = controller;
		const query = $state.snapshot(this.query) as NodeQuery;
		const key = cacheKey(query);
		const cached = this.cache.get(key);
		if (cached) this.show(cached);
		this.loading = !cached;
		const early = this.first ? takeEarly<FleetSummary, NodePage>(key) : undefined;
		this.first = false;
		// The summary is fetched alongside but never holds the rows back.
		const summary = withSummary
			? (early?.summary ?? Promise.reject(new Error('not preloaded')))
					.catch(() => this.api.getFleetSummary(controller.signal))
					.then((value) => {
						if (!controller.signal.aborted) this.summary = value;
					})
					.catch(() => {
						/* the list's error path reports an unreachable API; cards keep their last values */
					})
			: Promise.resolve();
		try {
			const generation = this.generation;
			const page = await (early?.list
				? early.list.catch(() => this.api.listNodes(query, controller.signal))
				: (this.inflight.get(key) ?? this.api.listNodes(query, controller.signal)));
			if (controller.signal.aborted) return;
			// For bench/dashboard.mjs: when the rows' data reached the app ("render" starts here).
			performance.mark?.('obt:list-data');
			if (generation === this.generation) this.remember(key, page);
			this.show(page);
			this.error = null;
			if (prefetch) this.schedulePrefetch();
			await summary;
		} catch (err) {
			if (controller.signal.aborted) return;
			this.error = describeError(err);
		} finally {
			if (this.controller === controller) {
				this.loading = false;
				this.controller = null;
			}
		}
	}

	/** Show a page of rows, leaving the rows as they are when nothing changed. */
	private show(page: NodePage): void {
		if (this.total !== page.total) this.total = page.total;
		if (!this.loaded || !samePage(this.items, page.items)) this.items = page.items;
		this.loaded = true;
	}

	private remember(key: string, page: NodePage): void {
		this.cache.delete(key);
		this.cache.set(key, page);
		while (this.cache.size > CACHE_PAGES) this.cache.delete(this.cache.keys().next().value!);
	}

	/** The current column in the other order and the next page, unless already at hand. */
	private schedulePrefetch(): void {
		if (this.prefetchTimer) clearTimeout(this.prefetchTimer);
		this.prefetchTimer = setTimeout(() => {
			this.prefetchTimer = null;
			const query = $state.snapshot(this.query) as NodeQuery;
			const limit = query.limit ?? DEFAULT_PAGE_SIZE;
			const sort = query.sort ?? 'name';
			const reversed = (sort.startsWith('-') ? sort.slice(1) : `-${sort}`) as NodeQuery['sort'];
			const next: NodeQuery[] = [{ ...query, sort: reversed, offset: 0 }];
			if ((query.offset ?? 0) + limit < this.total)
				next.push({ ...query, offset: (query.offset ?? 0) + limit });
			for (const q of next) this.prefetchPage(q);
		}, PREFETCH_DELAY_MS);
	}

	private prefetchPage(query: NodeQuery): void {
		const key = cacheKey(query);
		if (this.cache.has(key) || this.inflight.has(key)) return;
		const generation = this.generation;
		const request = this.api.listNodes(query);
		this.inflight.set(key, request);
		request
			.then((page) => {
				if (generation === this.generation) this.remember(key, page);
			})
			.catch(() => {
				/* a prefetch that fails costs nothing: the click asks the server itself */
			})
			.finally(() => {
				if (this.inflight.get(key) === request) this.inflight.delete(key);
			});
	}

	/** Forget every cached page: a live event says the fleet changed. */
	private invalidate(): void {
		this.generation++;
		this.cache.clear();
		this.inflight.clear();
	}

	/** Feed a live event: rows on this page change in place, anything else reloads quietly. */
	handleEvent(event: LiveEvent): void {
		this.invalidate();
		if (event.type === 'node.upserted' && event.name && !event.created) {
			if (this.items.some((n) => n.name === event.name)) this.pendingRows.add(event.name);
			else this.reloadPending = true; // it may now match the filters, or its sort key moved
		} else if (event.type === 'models.changed') {
			if (event.name && this.items.some((n) => n.name === event.name))
				this.pendingRows.add(event.name);
		} else {
			// created, deleted or resync: membership of pages changed
			this.reloadPending = true;
		}
		this.scheduleFlush();
	}

	private scheduleFlush(): void {
		if (this.flushTimer) return;
		const wait = Math.max(FLUSH_MS, MIN_FLUSH_INTERVAL_MS - (Date.now() - this.lastFlushAt));
		this.flushTimer = setTimeout(() => {
			this.flushTimer = null;
			this.lastFlushAt = Date.now();
			void this.flush();
		}, wait);
	}

	/** Apply what collected since the last flush; exposed for tests. */
	async flush(): Promise<void> {
		const rows = [...this.pendingRows];
		const reload = this.reloadPending || rows.length > MAX_ROW_FETCHES;
		this.pendingRows.clear();
		this.reloadPending = false;
		if (reload) {
			await this.load();
			this.flash(rows);
			return;
		}
		if (!rows.length) return;
		const results = await Promise.allSettled(rows.map((name) => this.api.getNode(name)));
		// eslint-disable-next-line svelte/prefer-svelte-reactivity -- local to this flush
		const fresh = new Map<string, NodeListItem>();
		results.forEach((r, i) => {
			if (r.status === 'fulfilled') fresh.set(rows[i], r.value);
		});
		if (fresh.size) {
			this.items = this.items.map((row) =>
				fresh.has(row.name) ? pickListFields(fresh.get(row.name)!) : row
			);
			this.flash([...fresh.keys()]);
		}
		if (results.some((r) => r.status === 'rejected')) await this.load();
		else this.summary = await this.api.getFleetSummary().catch(() => this.summary);
	}

	private flash(names: string[]): void {
		if (!names.length) return;
		const now = Date.now();
		const next = { ...this.flashed };
		for (const name of names) next[name] = now;
		this.flashed = next;
	}

	dispose(): void {
		this.controller?.abort();
		if (this.prefetchTimer) clearTimeout(this.prefetchTimer);
		this.prefetchTimer = null;
		this.invalidate();
		if (this.flushTimer) clearTimeout(this.flushTimer);
		this.flushTimer = null;
	}
}

/** The cache key of a query: its URL parameters, page size and offset included. */
function cacheKey(query: NodeQuery): string {
	return queryToParams(query).toString();
}

function samePage(a: NodeListItem[], b: NodeListItem[]): boolean {
	return a.length === b.length && JSON.stringify(a) === JSON.stringify(b);
}

const LIST_FIELDS: (keyof NodeListItem)[] = [
	'name',
	'displayName',
	'source',
	'phase',
	'phaseSince',
	'ollamaVersion',
	'ollamaReachable',
	'gpuCount',
	'gpuSummary',
	'vramTotalBytes',
	'vramLoadedBytes',
	'vramFreeBytes',
	'ramTotalBytes',
	'ramAvailableBytes',
	'modelCount',
	'loadedCount',
	'os',
	'cpu',
	'agentVersion',
	'labels',
	'createdAt',
	'updatedAt',
	'lastSeenAt'
];

/** A node detail holds every list field; keep only those so rows stay small. */
export function pickListFields(node: NodeListItem): NodeListItem {
	const row: Record<string, unknown> = {};
	for (const key of LIST_FIELDS) row[key] = node[key];
	return row as unknown as NodeListItem;
}
