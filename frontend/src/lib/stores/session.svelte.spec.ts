import { ApiError } from '$lib/api';
import { SessionStore, safeReturnPath, signInUrl, type SessionApi } from './session.svelte';

const VIEWER = { kind: 'session', id: 'abc123', name: 'alice', role: 'viewer' as const };

function fakeApi(me: { principal: typeof VIEWER | null; anonymousRead: boolean }) {
	const api = {
		getMe: vi.fn(async () => me),
		createSession: vi.fn(async () => ({
			principal: { ...VIEWER, role: 'admin' as const },
			csrfToken: 'c',
			expiresAt: '2026-12-04T00:00:00Z'
		})),
		deleteSession: vi.fn(async () => undefined)
	};
	return api as unknown as SessionApi & typeof api;
}

describe('SessionStore', () => {
	it('knows who is signed in and what the role may do', async () => {
		const store = new SessionStore(fakeApi({ principal: VIEWER, anonymousRead: false }), vi.fn());
		await store.load();
		expect(store.principal?.name).toBe('alice');
		expect(store.can('viewer')).toBe(true);
		expect(store.can('admin')).toBe(false);
	});

	it('lets anonymous read be a viewer, and nobody otherwise', async () => {
		const open = new SessionStore(fakeApi({ principal: null, anonymousRead: true }), vi.fn());
		await open.load();
		expect(open.can('viewer')).toBe(true);
		expect(open.can('operator')).toBe(false);
		const closed = new SessionStore(fakeApi({ principal: null, anonymousRead: false }), vi.fn());
		await closed.load();
		expect(closed.can('viewer')).toBe(false);
	});

	it('sends a 401 on a read to /signin only when anonymous read is off', async () => {
		const navigate = vi.fn();
		const closed = new SessionStore(fakeApi({ principal: null, anonymousRead: false }), navigate);
		void closed.load();
		await closed.unauthorized();
		expect(navigate).toHaveBeenCalledWith('/signin');
		const stay = vi.fn();
		const open = new SessionStore(fakeApi({ principal: null, anonymousRead: true }), stay);
		void open.load();
		await open.unauthorized();
		expect(stay).not.toHaveBeenCalled();
	});

	it('treats a refused session cookie on /auth/me as signed out', async () => {
		const api = fakeApi({ principal: null, anonymousRead: true });
		api.getMe.mockRejectedValueOnce(new ApiError(401, 'session: this session expired'));
		const navigate = vi.fn();
		const store = new SessionStore(api, navigate);
		await store.load();
		expect(store.principal).toBeNull();
		expect(store.error).toContain('expired');
		expect(navigate).toHaveBeenCalledWith('/signin');
	});

	it('signs in and returns to a path on this site only', async () => {
		const api = fakeApi({ principal: null, anonymousRead: false });
		const navigate = vi.fn();
		const store = new SessionStore(api, navigate);
		await store.signIn('  obt_x.y  ', '/nodes/a?x=1');
		expect(api.createSession).toHaveBeenCalledWith('obt_x.y');
		expect(store.can('admin')).toBe(true);
		expect(navigate).toHaveBeenLastCalledWith('/nodes/a?x=1');
		await store.signIn('t', '//evil.example/');
		expect(navigate).toHaveBeenLastCalledWith('/');
	});

	it('signs out: the session is ended and the person lands on /signin', async () => {
		const api = fakeApi({ principal: VIEWER, anonymousRead: false });
		const navigate = vi.fn();
		const store = new SessionStore(api, navigate);
		await store.load();
		await store.signOut();
		expect(api.deleteSession).toHaveBeenCalled();
		expect(store.principal).toBeNull();
		expect(navigate).toHaveBeenCalledWith('/signin');
	});
});

describe('SessionStore.start', () => {
	it('takes over 401s on reads until stopped', async () => {
		const { setUnauthorizedHandler } = await import('$lib/api');
		const navigate = vi.fn();
		const store = new SessionStore(fakeApi({ principal: null, anonymousRead: false }), navigate);
		const stop = store.start();
		const fetchMock = vi.fn(async () => new Response('{"detail":"needs viewer"}', { status: 401 }));
		vi.stubGlobal('fetch', fetchMock);
		const { listNodes } = await import('$lib/api');
		await expect(listNodes()).rejects.toThrow('needs viewer');
		await vi.waitFor(() => expect(navigate).toHaveBeenCalledWith('/signin'));
		stop();
		setUnauthorizedHandler(null);
		vi.unstubAllGlobals();
	});
});

describe('return paths', () => {
	it('keeps only paths on this site', () => {
		expect(safeReturnPath('/models?x=1')).toBe('/models?x=1');
		expect(safeReturnPath('https://evil.example')).toBe('/');
		expect(safeReturnPath('//evil.example')).toBe('/');
		expect(safeReturnPath('/\\evil.example')).toBe('/');
		expect(safeReturnPath(null)).toBe('/');
	});

	it('builds the sign-in URL with the path to come back to', () => {
		expect(signInUrl('/nodes/a b')).toBe('/signin?next=%2Fnodes%2Fa%20b');
		expect(signInUrl('/')).toBe('/signin');
		expect(signInUrl('/signin?next=%2Fx')).toBe('/signin');
	});
});
