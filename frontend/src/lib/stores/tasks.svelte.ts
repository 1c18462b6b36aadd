import { untrack } from 'svelte';
import { taskFinished } from '$lib/actions';
import {
	cancelTask,
	describeError,
	deleteTask,
	getTask,
	listTasks,
	type OllamaTask
} from '$lib/api';
import { live as defaultLive, type LiveEvent, type LiveSource } from './live.svelte';

export interface TasksApi {
	listTasks: typeof listTasks;
	getTask: typeof getTask;
	cancelTask: typeof cancelTask;
	deleteTask: typeof deleteTask;
}

const DEFAULT_API: TasksApi = { listTasks, getTask, cancelTask, deleteTask };

/** A task is followed this often while it runs (live events make it sooner). */
export const FOLLOW_MS = 1000;
/** The history reloads this often while some task runs, and once events settle. */
export const LIST_REFRESH_MS = 3000;
const SETTLE_MS = 300;

export const TASKS_PAGE_SIZE = 50;

/**
 * The Tasks page: the history newest first (the API's order), a page at a time, reloaded on
 * `task.progress` events (settled) and every few seconds while a task on the page runs.
 * `start()` loads and subscribes; its return stops both.
 */
export class TasksStore {
	items = $state<OllamaTask[]>([]);
	total = $state(0);
	pageIndex = $state(0);
	error = $state<string | null>(null);
	loaded = $state(false);

	private readonly api: TasksApi;
	private readonly live: LiveSource;
	private timer: ReturnType<typeof setTimeout> | undefined;

	constructor(api: TasksApi = DEFAULT_API, live: LiveSource = defaultLive) {
		this.api = api;
		this.live = live;
	}

	get pageCount(): number {
		return Math.max(1, Math.ceil(this.total / TASKS_PAGE_SIZE));
	}

	goTo(index: number): Promise<void> {
		this.pageIndex = Math.min(Math.max(0, index), this.pageCount - 1);
		return this.load();
	}

	get running(): boolean {
		return this.items.some((t) => !taskFinished(t.status?.phase));
	}

	async load(): Promise<void> {
		try {
			const page = await this.api.listTasks({
				limit: TASKS_PAGE_SIZE,
				offset: this.pageIndex * TASKS_PAGE_SIZE
			});
			this.items = page.items;
			this.total = page.total;
			this.error = null;
			this.loaded = true;
		} catch (err) {
			this.error = describeError(err);
		}
	}

	handleEvent(event: LiveEvent): void {
		if (event.type !== 'task.progress' && event.type !== 'resync') return;
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

/**
 * One task followed until it finishes: GET every second while it runs, and at once on a
 * `task.progress` event naming it. Used by the task page and by the Models page after a start.
 */
export class TaskStore {
	task = $state<OllamaTask | null>(null);
	error = $state<string | null>(null);
	/** The task was deleted (404 while followed). */
	gone = $state(false);
	busy = $state(false);

	readonly name: string;
	private readonly api: TasksApi;
	private readonly live: LiveSource;
	private stopped = false;

	constructor(name: string, api: TasksApi = DEFAULT_API, live: LiveSource = defaultLive) {
		this.name = name;
		this.api = api;
		this.live = live;
	}

	get finished(): boolean {
		return taskFinished(this.task?.status?.phase);
	}

	async load(): Promise<void> {
		try {
			const task = await this.api.getTask(this.name);
			if (this.stopped) return;
			this.task = task;
			this.error = null;
		} catch (err) {
			if (this.stopped) return;
			this.error = describeError(err);
			if ((err as { status?: number }).status === 404) this.gone = true;
		}
	}

	/** Stop the task (operator): work in flight stops, nothing new starts. */
	async cancel(): Promise<void> {
		this.busy = true;
		try {
			this.task = await this.api.cancelTask(this.name);
			this.error = null;
		} catch (err) {
			this.error = describeError(err);
		} finally {
			this.busy = false;
		}
	}

	handleEvent(event: LiveEvent): void {
		if (event.type === 'resync' || (event.type === 'task.progress' && event.name === this.name))
			void this.load();
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
