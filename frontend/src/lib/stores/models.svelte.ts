import { untrack } from 'svelte';
import { describeError, getModel, listModels, type ModelDetail, type ModelVariant } from '$lib/api';
import { live as defaultLive, type LiveEvent, type LiveSource } from './live.svelte';

export interface ModelsApi {
	listModels: typeof listModels;
	getModel: typeof getModel;
}

export const MODELS_PAGE_SIZE = 100;
/** Typing in the search box reloads once the person pauses for this long. */
const SEARCH_DEBOUNCE_MS = 250;
/** Model changes arrive in bursts (a fleet pulling a model): reload once they settle. */
const RELOAD_MS = 300;

/**
 * The models page's state: one page of the catalogue (search, paging) and the details of the
 * models selected for the node x model matrix. `start()` loads and subscribes to live events;
 * the function it returns stops both (the page's effect).
 */
export class ModelsStore {
	items = $state<ModelVariant[]>([]);
	total = $state(0);
	offset = $state(0);
	search = $state('');
	error = $state<string | null>(null);
	loaded = $state(false);
	details = $state<ModelDetail[]>([]);
	detailError = $state<string | null>(null);
	/** The names whose details are wanted (the shared selection); set by the page. */
	selection: string[] = [];

	private readonly api: ModelsApi;
	private readonly live: LiveSource;
	private timer: ReturnType<typeof setTimeout> | undefined;

	constructor(api: ModelsApi = { listModels, getModel }, live: LiveSource = defaultLive) {
		this.api = api;
		this.live = live;
	}

	get pageIndex(): number {
		return Math.floor(this.offset / MODELS_PAGE_SIZE);
	}

	get pageCount(): number {
		return Math.max(1, Math.ceil(this.total / MODELS_PAGE_SIZE));
	}

	async load(): Promise<void> {
		try {
			const page = await this.api.listModels({
				search: this.search,
				limit: MODELS_PAGE_SIZE,
				offset: this.offset
			});
			this.items = page.items;
			this.total = page.total;
			this.error = null;
			this.loaded = true;
		} catch (err) {
			this.error = describeError(err);
		}
	}

	async loadSelection(names: string[] = this.selection): Promise<void> {
		this.selection = names;
		try {
			const details = await Promise.all(names.map((n) => this.api.getModel(n)));
			if (names !== this.selection) return; // a newer selection is loading
			this.details = details;
			this.detailError = null;
		} catch (err) {
			this.detailError = describeError(err);
		}
	}

	/** The search box changed: back to the first page once typing pauses. */
	setSearch(search: string): void {
		this.search = search;
		clearTimeout(this.timer);
		this.timer = setTimeout(() => {
			this.offset = 0;
			void this.load();
		}, SEARCH_DEBOUNCE_MS);
	}

	goToPage(index: number): Promise<void> {
		this.offset = Math.max(0, Math.min(index, this.pageCount - 1)) * MODELS_PAGE_SIZE;
		return this.load();
	}

	handleEvent(event: LiveEvent): void {
		if (event.type !== 'models.changed' && event.type !== 'node.deleted' && event.type !== 'resync')
			return;
		clearTimeout(this.timer);
		this.timer = setTimeout(() => {
			void this.load();
			void this.loadSelection();
		}, RELOAD_MS);
	}

	start(): () => void {
		// Untracked: an effect that calls start() must not re-run when what load() reads changes.
		void untrack(() => this.load());
		const unsubscribe = this.live.subscribe((event) => this.handleEvent(event));
		return () => {
			clearTimeout(this.timer);
			unsubscribe();
		};
	}
}
