import { untrack } from 'svelte';
import { decommissionNode, describeError, getNode, type NodeDetail } from '$lib/api';
import { live as defaultLive, type LiveEvent, type LiveSource } from './live.svelte';

export interface NodeApi {
	getNode: typeof getNode;
	decommissionNode?: typeof decommissionNode;
}

/** The agents' heartbeat period: live GPU figures come with heartbeats, which send no event. */
export const TELEMETRY_REFRESH_MS = 10_000;

/**
 * The node page's state: one node's detail, refreshed by live events about it and, while the
 * tab is visible, every heartbeat period (heartbeats carry telemetry but send no event).
 * `start()` loads and subscribes; the function it returns stops both (the page's onMount).
 */
export class NodeStore {
	node = $state<NodeDetail | null>(null);
	error = $state<string | null>(null);
	/** A live event said the node was removed while it was shown. */
	removed = $state(false);

	readonly name: string;
	private readonly api: NodeApi;
	private readonly live: LiveSource;
	private stopped = false;

	constructor(
		name: string,
		api: NodeApi = { getNode, decommissionNode },
		live: LiveSource = defaultLive
	) {
		this.name = name;
		this.api = api;
		this.live = live;
	}

	async load(): Promise<void> {
		try {
			const fresh = await this.api.getNode(this.name);
			if (this.stopped) return;
			this.node = fresh;
			this.error = null;
			this.removed = false;
		} catch (err) {
			if (this.stopped) return;
			this.error = describeError(err);
		}
	}

	/** Decommission this standalone host (admin): its token is revoked and it leaves the
	 * inventory. Throws the API's error for the confirm dialog to show. */
	async remove(): Promise<void> {
		if (!this.api.decommissionNode) throw new Error('removing hosts is not available here');
		await this.api.decommissionNode(this.name);
		this.removed = true;
	}

	handleEvent(event: LiveEvent): void {
		if (event.type !== 'resync' && event.name !== this.name) return;
		if (event.type === 'node.deleted') this.removed = true;
		else void this.load();
	}

	start(): () => void {
		this.stopped = false;
		// Untracked: an effect that calls start() must not re-run when what load() reads changes.
		void untrack(() => this.load());
		const refresh = setInterval(() => {
			if (!this.removed && document.visibilityState === 'visible') void this.load();
		}, TELEMETRY_REFRESH_MS);
		const unsubscribe = this.live.subscribe((event) => this.handleEvent(event));
		return () => {
			this.stopped = true;
			clearInterval(refresh);
			unsubscribe();
		};
	}
}
