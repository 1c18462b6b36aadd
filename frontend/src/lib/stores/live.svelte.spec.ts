import { vi } from 'vitest';
import { LiveConnection, type LiveEvent } from './live.svelte';

/** The part of EventSource the connection uses, driven by the test. */
class FakeSource {
	static instances: FakeSource[] = [];
	readyState = 0;
	onopen: (() => void) | null = null;
	onerror: (() => void) | null = null;
	onmessage: ((e: MessageEvent) => void) | null = null;
	listeners = new Map<string, (e: MessageEvent) => void>();
	closed = false;

	constructor(public url: string) {
		FakeSource.instances.push(this);
	}
	addEventListener(type: string, fn: (e: MessageEvent) => void) {
		this.listeners.set(type, fn);
	}
	close() {
		this.closed = true;
		this.readyState = 2;
	}
	open() {
		this.readyState = 1;
		this.onopen?.();
	}
	drop() {
		this.readyState = 0; // the browser is retrying
		this.onerror?.();
	}
	send(type: string, data: unknown) {
		const event = new MessageEvent(type, {
			data: typeof data === 'string' ? data : JSON.stringify(data)
		});
		(type === 'message' ? this.onmessage : this.listeners.get(type))?.(event);
	}
}

function connect() {
	FakeSource.instances = [];
	const conn = new LiveConnection(
		'/api/v1/events',
		(url) => new FakeSource(url) as unknown as EventSource
	);
	const events: LiveEvent[] = [];
	conn.subscribe((e) => events.push(e));
	conn.start();
	return { conn, events, source: FakeSource.instances[0] };
}

describe('LiveConnection', () => {
	it('goes connecting -> live when the stream opens', () => {
		const { conn, source } = connect();
		expect(source.url).toBe('/api/v1/events');
		expect(conn.state).toBe('connecting');
		source.open();
		expect(conn.state).toBe('live');
	});

	it('hands named events to subscribers with their JSON data', () => {
		const { conn, events, source } = connect();
		source.open();
		source.send('node.upserted', { type: 'node.upserted', name: 'n1', phase: 'Ready', id: 7 });
		expect(events).toEqual([{ type: 'node.upserted', name: 'n1', phase: 'Ready', id: 7 }]);
		expect(conn.lastEventAt).not.toBeNull();
	});

	it('takes the type from the event name when data has none, and ignores junk', () => {
		const { events, source } = connect();
		source.open();
		source.send('node.deleted', { name: 'gone' });
		source.send('message', 'not json');
		expect(events).toEqual([{ type: 'node.deleted', name: 'gone' }]);
	});

	it('shows reconnecting after a drop and leaves catching up to the server when back', () => {
		const { conn, events, source } = connect();
		source.open();
		source.drop();
		expect(conn.state).toBe('reconnecting');
		source.open();
		expect(conn.state).toBe('live');
		// The browser resent Last-Event-ID: the server replays what was missed or says resync.
		expect(events).toEqual([]);
		source.send('resync', { type: 'resync' });
		expect(events).toEqual([{ type: 'resync' }]);
	});

	it('resyncs when a new EventSource replaces one the browser gave up on', () => {
		vi.useFakeTimers();
		try {
			const { conn, events, source } = connect();
			source.open();
			source.readyState = 2; // e.g. a 429: the browser does not retry
			source.onerror?.();
			expect(conn.state).toBe('reconnecting');
			vi.advanceTimersByTime(3000);
			const next = FakeSource.instances[1];
			expect(next).toBeDefined();
			next.open();
			expect(conn.state).toBe('live');
			expect(events).toEqual([{ type: 'resync' }]);
		} finally {
			vi.useRealTimers();
		}
	});

	it('stops listening when unsubscribed and closes on stop', () => {
		const { conn, events, source } = connect();
		const unsubscribe = conn.subscribe(() => events.push({ type: 'second' }));
		unsubscribe();
		source.open();
		source.send('resync', { type: 'resync' });
		expect(events).toHaveLength(1);
		conn.stop();
		expect(source.closed).toBe(true);
		expect(conn.state).toBe('off');
	});
});
