/**
 * One EventSource on /api/v1/events shared by every page. The browser reconnects by itself after
 * a dropped connection and sends Last-Event-ID: the server then replays what was missed, or sends
 * `resync` when it no longer has it (pages reload). We only track what the person should see
 * ("live" / "reconnecting") and hand each event to the pages that listen. When the browser gives
 * up and we open a new EventSource, it has no Last-Event-ID: pages resync on its first open.
 */
export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'off';

export interface LiveEvent {
	type: string;
	name?: string;
	phase?: string;
	created?: boolean;
	at?: string;
	[key: string]: unknown;
}

type Listener = (event: LiveEvent) => void;
type SourceFactory = (url: string) => EventSource;

// The event names the API sends; unnamed "message" events are read the same way.
export const EVENT_TYPES = [
	'node.upserted',
	'node.deleted',
	'models.changed',
	'task.progress',
	'modelset.changed',
	'benchmark.progress',
	'benchmark.result',
	'benchmark.changed',
	'resync'
] as const;

export class LiveConnection {
	state = $state<LiveState>('off');
	/** When the last event arrived (ms since epoch), for the indicator's tooltip. */
	lastEventAt = $state<number | null>(null);

	private source: EventSource | null = null;
	// eslint-disable-next-line svelte/prefer-svelte-reactivity -- subscribers, never rendered
	private listeners = new Set<Listener>();
	private readonly url: string;
	private readonly factory: SourceFactory;

	constructor(url = '/api/v1/events', factory?: SourceFactory) {
		this.url = url;
		this.factory = factory ?? ((u) => new EventSource(u));
	}

	start(): void {
		if (this.source) return;
		// A fresh EventSource after the browser gave up cannot resume: resync when it opens.
		let fresh = this.state === 'reconnecting';
		this.state = 'connecting';
		const source = this.factory(this.url);
		this.source = source;
		source.onopen = () => {
			this.state = 'live';
			if (fresh) this.emit({ type: 'resync' });
			fresh = false;
		};
		source.onerror = () => {
			this.state = source.readyState === 2 ? 'off' : 'reconnecting';
			if (source.readyState === 2) {
				// The browser gave up (e.g. a non-200 answer): try again ourselves.
				this.source = null;
				this.state = 'reconnecting';
				setTimeout(() => this.start(), 3000);
			}
		};
		const handle = (message: MessageEvent) => this.receive(message);
		source.onmessage = handle;
		for (const type of EVENT_TYPES) source.addEventListener(type, handle as EventListener);
	}

	stop(): void {
		this.source?.close();
		this.source = null;
		this.state = 'off';
	}

	subscribe(listener: Listener): () => void {
		this.listeners.add(listener);
		return () => this.listeners.delete(listener);
	}

	private receive(message: MessageEvent): void {
		let event: LiveEvent;
		try {
			const data = JSON.parse(String(message.data));
			event = { ...data, type: data?.type ?? message.type };
		} catch {
			return; // keep-alive comments and malformed lines carry nothing
		}
		this.state = 'live';
		this.lastEventAt = Date.now();
		this.emit(event);
	}

	private emit(event: LiveEvent): void {
		for (const listener of this.listeners) listener(event);
	}
}

export const live = new LiveConnection();

/** What a page store needs of the live connection (tests pass a fake). */
export type LiveSource = Pick<LiveConnection, 'subscribe'>;
