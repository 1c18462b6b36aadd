import { describeError, listAuditEntries, type AuditQuery, type AuditRecord } from '$lib/api';
import { localToIso } from '$lib/format';

export interface AuditApi {
	listAuditEntries: typeof listAuditEntries;
}

export const AUDIT_PAGE_SIZE = 50;
export const OUTCOMES = ['2xx', '3xx', '4xx', '5xx'] as const;

export interface AuditFilters {
	actor: string;
	action: string;
	outcome: string;
	since: string;
	until: string;
}

export const NO_FILTERS: AuditFilters = {
	actor: '',
	action: '',
	outcome: '',
	since: '',
	until: ''
};

/** The audit page (admins): the trail newest first, filtered and paged on the server. */
export class AuditStore {
	items = $state<AuditRecord[]>([]);
	total = $state(0);
	pageIndex = $state(0);
	filters = $state<AuditFilters>({ ...NO_FILTERS });
	error = $state<string | null>(null);
	loading = $state(false);

	private readonly api: AuditApi;
	private controller: AbortController | null = null;

	constructor(api: AuditApi = { listAuditEntries }) {
		this.api = api;
	}

	get pageCount(): number {
		return Math.max(1, Math.ceil(this.total / AUDIT_PAGE_SIZE));
	}

	query(): AuditQuery {
		const f = this.filters;
		return {
			actor: f.actor,
			action: f.action,
			outcome: f.outcome || undefined,
			since: localToIso(f.since),
			until: localToIso(f.until),
			limit: AUDIT_PAGE_SIZE,
			offset: this.pageIndex * AUDIT_PAGE_SIZE
		};
	}

	start(): () => void {
		void this.load();
		return () => this.controller?.abort();
	}

	async load(): Promise<void> {
		this.controller?.abort();
		const controller = (this.controller = new AbortController());
		this.loading = true;
		try {
			const page = await this.api.listAuditEntries(this.query(), controller.signal);
			if (controller.signal.aborted) return;
			this.items = page.items;
			this.total = page.total;
			this.error = null;
		} catch (err) {
			if (controller.signal.aborted) return;
			this.error = describeError(err);
		} finally {
			if (!controller.signal.aborted) this.loading = false;
		}
	}

	/** New filters: back to the first page. */
	apply(filters: AuditFilters): Promise<void> {
		this.filters = { ...filters };
		this.pageIndex = 0;
		return this.load();
	}

	goTo(index: number): Promise<void> {
		this.pageIndex = Math.min(Math.max(0, index), this.pageCount - 1);
		return this.load();
	}
}
