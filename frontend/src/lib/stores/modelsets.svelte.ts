import { untrack } from 'svelte';
import {
	createModelSet,
	deleteModelSet,
	describeError,
	getModelSet,
	listModelSets,
	updateModelSet,
	type NewModelSet,
	type OllamaModelSet
} from '$lib/api';
import { live as defaultLive, type LiveEvent, type LiveSource } from './live.svelte';

export interface ModelSetsApi {
	listModelSets: typeof listModelSets;
	getModelSet: typeof getModelSet;
	createModelSet: typeof createModelSet;
	updateModelSet: typeof updateModelSet;
	deleteModelSet: typeof deleteModelSet;
}

const DEFAULT_API: ModelSetsApi = {
	listModelSets,
	getModelSet,
	createModelSet,
	updateModelSet,
	deleteModelSet
};

/** Sets change status while nodes pull: reload this often as well as on events. */
export const SETS_REFRESH_MS = 5000;
const SETTLE_MS = 300;
/** Sets are few (one per group of nodes and models): one page holds them. */
export const SETS_LIMIT = 500;

/**
 * Model sets (by name): loaded at start, reloaded on `modelset.changed` events (settled) and
 * every few seconds while the tab is visible. The list page and a set's page both use it.
 */
export class ModelSetsStore {
	items = $state<OllamaModelSet[]>([]);
	total = $state(0);
	error = $state<string | null>(null);
	loaded = $state(false);

	private readonly api: ModelSetsApi;
	private readonly live: LiveSource;
	private timer: ReturnType<typeof setTimeout> | undefined;

	constructor(api: ModelSetsApi = DEFAULT_API, live: LiveSource = defaultLive) {
		this.api = api;
		this.live = live;
	}

	async load(): Promise<void> {
		try {
			const page = await this.api.listModelSets({ limit: SETS_LIMIT });
			this.items = [...page.items].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
			this.total = page.total;
			this.error = null;
			this.loaded = true;
		} catch (err) {
			this.error = describeError(err);
		}
	}

	/** Create (no `existing`) or replace a set; throws the API's error for the form to show. */
	async save(set: NewModelSet, existing?: string): Promise<OllamaModelSet> {
		const saved = existing
			? await this.api.updateModelSet(existing, set)
			: await this.api.createModelSet(set);
		await this.load();
		return saved;
	}

	async remove(name: string): Promise<void> {
		await this.api.deleteModelSet(name);
		this.items = this.items.filter((s) => s.metadata.name !== name);
	}

	handleEvent(event: LiveEvent): void {
		if (event.type !== 'modelset.changed' && event.type !== 'resync') return;
		clearTimeout(this.timer);
		this.timer = setTimeout(() => void this.load(), SETTLE_MS);
	}

	start(): () => void {
		void untrack(() => this.load());
		const unsubscribe = this.live.subscribe((event) => this.handleEvent(event));
		const refresh = setInterval(() => {
			if (document.visibilityState === 'visible') void this.load();
		}, SETS_REFRESH_MS);
		return () => {
			clearTimeout(this.timer);
			clearInterval(refresh);
			unsubscribe();
		};
	}
}
