import { ApiError, type AuditQuery, type AuditRecord } from '$lib/api';
import { AUDIT_PAGE_SIZE, AuditStore, NO_FILTERS, type AuditApi } from './audit.svelte';

function entry(id: number): AuditRecord {
	return {
		id,
		at: '2026-12-03T10:00:00Z',
		actorKind: 'token',
		actorId: 'admin',
		actorName: 'admin token',
		role: 'admin',
		action: 'createApiToken',
		method: 'POST',
		path: '/api/v1/tokens',
		target: 'tokenId=abc',
		status: 201,
		client: '127.0.0.1'
	};
}

function fakeApi(total = 120) {
	const api = {
		listAuditEntries: vi.fn(async (_query?: AuditQuery, _signal?: AbortSignal) => ({
			items: [entry(1), entry(2)],
			total,
			limit: AUDIT_PAGE_SIZE,
			offset: 0
		}))
	};
	return api as unknown as AuditApi & typeof api;
}

describe('AuditStore', () => {
	it('loads the newest page and pages on the server', async () => {
		const api = fakeApi();
		const store = new AuditStore(api);
		await store.load();
		expect(store.items).toHaveLength(2);
		expect(store.pageCount).toBe(3);
		await store.goTo(2);
		expect(api.listAuditEntries).toHaveBeenLastCalledWith(
			expect.objectContaining({ limit: AUDIT_PAGE_SIZE, offset: 2 * AUDIT_PAGE_SIZE }),
			expect.anything()
		);
		await store.goTo(9);
		expect(store.pageIndex).toBe(2);
	});

	it('sends the filters and starts again at the first page', async () => {
		const api = fakeApi();
		const store = new AuditStore(api);
		await store.goTo(1);
		await store.apply({
			...NO_FILTERS,
			actor: 'abc',
			outcome: '4xx',
			since: '2026-12-03T10:00'
		});
		const query = api.listAuditEntries.mock.lastCall?.[0];
		expect(store.pageIndex).toBe(0);
		expect(query).toMatchObject({ actor: 'abc', outcome: '4xx', offset: 0 });
		expect(query?.since).toMatch(/^2026-12-0[23]T\d\d:00:00\.000Z$/);
		expect(query?.until).toBeUndefined();
	});

	it('starts by loading, and its stop aborts what is in flight', async () => {
		const api = fakeApi();
		const store = new AuditStore(api);
		const stop = store.start();
		stop();
		expect(api.listAuditEntries).toHaveBeenCalledOnce();
		const signal = api.listAuditEntries.mock.lastCall?.[1] as AbortSignal;
		expect(signal.aborted).toBe(true);
	});

	it("shows the server's message when it refuses", async () => {
		const api = fakeApi();
		api.listAuditEntries.mockRejectedValueOnce(
			new ApiError(403, 'this operation needs the admin role')
		);
		const store = new AuditStore(api);
		await store.load();
		expect(store.error).toContain('admin role');
	});
});
