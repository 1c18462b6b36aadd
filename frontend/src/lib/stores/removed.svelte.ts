import { describeError, listRemovedNodes, type RemovedNode } from '$lib/api';
import { live as defaultLive, type LiveEvent, type LiveSource } from './live.svelte';

export interface RemovedApi {
	listRemovedNodes: typeof listRemovedNodes;
}

// Removals come in bursts (an office switched off at night): reload once after they settle.
const RELOAD_MS = 500;
/** How many tombstones the fleet page shows (the API keeps more). */
export const REMOVED_LIMIT = 20;

/**
 * Recently removed nodes (tombstones) for the fleet page: who went away, when they were last
 * seen, what they had. Reloaded when a live event says a node was removed or came back.
 */
export class RemovedStore {
	items = $state<RemovedNode[]>([]);
	error = $state<string | null>(null);

	private readonly api: RemovedApi;
	private readonly live: LiveSource;
	private timer: ReturnType<typeof setTimeout> | null = null;

	constructor(api: RemovedApi = { listRemovedNodes }, live: LiveSource = defaultLive) {
		this.api = api;
		this.live = live;
	}

	/** Load and follow live events; the function returned stops both (the page's effect). */
	start(): () => void {
		void this.load();
		const unsubscribe = this.live.subscribe((event) => this.handleEvent(event));
		return () => {
			unsubscribe();
			this.dispose();
		};
	}

	async load(): Promise<void> {
		try {
			this.items = await this.api.listRemovedNodes(REMOVED_LIMIT);
			this.error = null;
		} catch (err) {
			this.error = describeError(err);
		}
	}

	/** A removal, a node created (perhaps one coming back) or a resync: reload soon. */
	handleEvent(event: LiveEvent): void {
		const relevant =
			event.type === 'node.deleted' ||
			event.type === 'resync' ||
			(event.type === 'node.upserted' && event.created === true);
		if (!relevant || this.timer) return;
		this.timer = setTimeout(() => {
			this.timer = null;
			void this.load();
		}, RELOAD_MS);
	}

	dispose(): void {
		if (this.timer) clearTimeout(this.timer);
		this.timer = null;
	}
}
