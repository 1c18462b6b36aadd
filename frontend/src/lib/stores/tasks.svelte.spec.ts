import { ApiError, type OllamaTask } from '$lib/api';
import type { LiveEvent, LiveSource } from './live.svelte';
import {
	FOLLOW_MS,
	LIST_REFRESH_MS,
	TaskStore,
	TASKS_PAGE_SIZE,
	TasksStore,
	type TasksApi
} from './tasks.svelte';

function makeTask(
	name: string,
	phase: NonNullable<OllamaTask['status']>['phase'],
	at: string
): OllamaTask {
	return {
		metadata: { name, creationTimestamp: at },
		spec: { action: 'pull', models: [{ name: 'llama3.2:latest' }], nodes: ['a'] },
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
	return { live, send: (e: LiveEvent) => listener?.(e), subscribed: () => listener !== null };
}

function fakeApi(tasks: OllamaTask[]) {
	const api = {
		listTasks: vi.fn(async () => ({ items: tasks, total: tasks.length, limit: 50, offset: 0 })),
		getTask: vi.fn(async (name: string) => tasks.find((t) => t.metadata.name === name)!),
		cancelTask: vi.fn(async (name: string) => ({
			...tasks.find((t) => t.metadata.name === name)!,
			spec: { ...tasks[0].spec, cancel: true }
		})),
		deleteTask: vi.fn(async () => undefined)
	};
	return api as unknown as TasksApi & typeof api;
}

describe('TasksStore', () => {
	afterEach(() => vi.useRealTimers());

	it('lists a page of tasks in the order the API gives (newest first)', async () => {
		const api = fakeApi([
			makeTask('new', 'Running', '2026-12-03T20:00:00Z'),
			makeTask('old', 'Succeeded', '2026-12-03T18:00:00Z')
		]);
		const store = new TasksStore(api, fakeLive().live);
		await store.load();
		expect(api.listTasks).toHaveBeenCalledWith({ limit: TASKS_PAGE_SIZE, offset: 0 });
		expect(store.items.map((t) => t.metadata.name)).toEqual(['new', 'old']);
		expect(store.running).toBe(true);
		expect(store.loaded).toBe(true);
		expect(store.pageCount).toBe(1);
	});

	it('pages through the history', async () => {
		const api = fakeApi([makeTask('t', 'Succeeded', '2026-12-03T20:00:00Z')]);
		api.listTasks.mockResolvedValue({ items: [], total: 120, limit: 50, offset: 0 });
		const store = new TasksStore(api, fakeLive().live);
		await store.load();
		expect(store.pageCount).toBe(3);
		await store.goTo(7);
		expect(store.pageIndex).toBe(2);
		expect(api.listTasks).toHaveBeenLastCalledWith({ limit: TASKS_PAGE_SIZE, offset: 100 });
		await store.goTo(-1);
		expect(store.pageIndex).toBe(0);
	});

	it("keeps the server's message when loading fails", async () => {
		const api = fakeApi([]);
		api.listTasks.mockRejectedValueOnce(new ApiError(403, 'needs the viewer role'));
		const store = new TasksStore(api, fakeLive().live);
		await store.load();
		expect(store.error).toBe('needs the viewer role');
	});

	it('reloads once task events settle, and every few seconds while a task runs', async () => {
		vi.useFakeTimers();
		const api = fakeApi([makeTask('t', 'Running', '2026-12-03T20:00:00Z')]);
		const live = fakeLive();
		const store = new TasksStore(api, live.live);
		const stop = store.start();
		await vi.advanceTimersByTimeAsync(0);
		expect(api.listTasks).toHaveBeenCalledTimes(1);
		live.send({ type: 'node.upserted', name: 'x' });
		live.send({ type: 'task.progress', name: 't' });
		live.send({ type: 'task.progress', name: 't' });
		await vi.advanceTimersByTimeAsync(500);
		expect(api.listTasks).toHaveBeenCalledTimes(2);
		await vi.advanceTimersByTimeAsync(LIST_REFRESH_MS);
		expect(api.listTasks).toHaveBeenCalledTimes(3);
		stop();
		expect(live.subscribed()).toBe(false);
		await vi.advanceTimersByTimeAsync(LIST_REFRESH_MS * 2);
		expect(api.listTasks).toHaveBeenCalledTimes(3);
	});
});

describe('TaskStore', () => {
	afterEach(() => vi.useRealTimers());

	it('follows a running task every second until it finishes', async () => {
		vi.useFakeTimers();
		const running = makeTask('t', 'Running', '2026-12-03T20:00:00Z');
		const api = fakeApi([running]);
		const store = new TaskStore('t', api, fakeLive().live);
		const stop = store.start();
		await vi.advanceTimersByTimeAsync(0);
		expect(store.task?.status?.phase).toBe('Running');
		expect(store.finished).toBe(false);
		await vi.advanceTimersByTimeAsync(FOLLOW_MS);
		expect(api.getTask).toHaveBeenCalledTimes(2);
		api.getTask.mockResolvedValue(makeTask('t', 'Succeeded', '2026-12-03T20:00:00Z'));
		await vi.advanceTimersByTimeAsync(FOLLOW_MS);
		expect(store.finished).toBe(true);
		await vi.advanceTimersByTimeAsync(FOLLOW_MS * 5);
		expect(api.getTask).toHaveBeenCalledTimes(3); // no more polling once finished
		stop();
	});

	it('reloads on its own task.progress event and on resync, not on other tasks', async () => {
		const api = fakeApi([makeTask('t', 'Succeeded', '2026-12-03T20:00:00Z')]);
		const live = fakeLive();
		const store = new TaskStore('t', api, live.live);
		const stop = store.start();
		await vi.waitFor(() => expect(store.task).not.toBeNull());
		live.send({ type: 'task.progress', name: 'other' });
		expect(api.getTask).toHaveBeenCalledTimes(1);
		live.send({ type: 'task.progress', name: 't' });
		live.send({ type: 'resync' });
		await vi.waitFor(() => expect(api.getTask).toHaveBeenCalledTimes(3));
		stop();
	});

	it('notes a deleted task and stops asking', async () => {
		vi.useFakeTimers();
		const api = fakeApi([]);
		api.getTask.mockRejectedValue(new ApiError(404, 'no task named t'));
		const store = new TaskStore('t', api, fakeLive().live);
		const stop = store.start();
		await vi.advanceTimersByTimeAsync(FOLLOW_MS * 3);
		expect(store.gone).toBe(true);
		expect(store.error).toBe('no task named t');
		expect(api.getTask).toHaveBeenCalledTimes(1);
		stop();
	});

	it('cancels, keeping the answer, or shows why not', async () => {
		const api = fakeApi([makeTask('t', 'Running', '2026-12-03T20:00:00Z')]);
		const store = new TaskStore('t', api, fakeLive().live);
		await store.cancel();
		expect(api.cancelTask).toHaveBeenCalledWith('t');
		expect(store.task?.spec.cancel).toBe(true);
		api.cancelTask.mockRejectedValueOnce(new ApiError(403, 'needs the operator role'));
		await store.cancel();
		expect(store.error).toBe('needs the operator role');
		expect(store.busy).toBe(false);
	});
});
