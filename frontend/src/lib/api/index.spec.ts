import { makeNode } from '$lib/testing/fixtures';
import { ApiError, getNode, listNodes } from './index';

function respond(status: number, body: unknown) {
	return vi.fn(
		async (_input: RequestInfo | URL, _init?: RequestInit) =>
			new Response(JSON.stringify(body), {
				status,
				headers: { 'content-type': 'application/json' }
			})
	);
}

function requestedUrl(fetchMock: ReturnType<typeof respond>): URL {
	const input = fetchMock.mock.calls[0][0];
	const url = input instanceof Request ? input.url : String(input);
	return new URL(url, 'http://localhost');
}

describe('generated client wrapper', () => {
	it('sends filters as repeated query parameters and drops empty ones', async () => {
		const fetchMock = respond(200, { items: [makeNode()], total: 1, limit: 50, offset: 0 });
		vi.stubGlobal('fetch', fetchMock);
		const page = await listNodes({
			search: '  h100 ',
			phase: ['Ready', 'NotReady'],
			gpuVendor: [],
			hasModel: '',
			sort: '-vramTotal',
			limit: 50,
			offset: 100
		});
		expect(page.total).toBe(1);
		const url = requestedUrl(fetchMock);
		expect(url.pathname).toBe('/api/v1/nodes');
		expect(url.searchParams.getAll('phase')).toEqual(['Ready', 'NotReady']);
		expect(url.searchParams.get('search')).toBe('h100');
		expect(url.searchParams.get('sort')).toBe('-vramTotal');
		expect(url.searchParams.get('offset')).toBe('100');
		expect(url.searchParams.has('gpuVendor')).toBe(false);
		expect(url.searchParams.has('hasModel')).toBe(false);
	});

	it("throws an ApiError with the server's message", async () => {
		vi.stubGlobal('fetch', respond(404, { detail: "node 'ghost' not found" }));
		const failure = getNode('ghost');
		await expect(failure).rejects.toBeInstanceOf(ApiError);
		await expect(getNode('ghost')).rejects.toThrow("node 'ghost' not found");
	});
});

describe('CSRF header', () => {
	it('is sent on state-changing requests from the obt_csrf cookie, never on reads', async () => {
		const { withCsrf, readCookie } = await import('./index');
		const cookies = 'obt-theme=dark; obt_csrf=abc%3D1; other=x';
		expect(readCookie(cookies, 'obt_csrf')).toBe('abc=1');
		const post = withCsrf(new Request('http://x/api/v1/tokens', { method: 'POST' }), cookies);
		expect(post.headers.get('X-CSRF-Token')).toBe('abc=1');
		const get = withCsrf(new Request('http://x/api/v1/nodes'), cookies);
		expect(get.headers.has('X-CSRF-Token')).toBe(false);
		const signedOut = withCsrf(new Request('http://x/', { method: 'DELETE' }), 'a=b');
		expect(signedOut.headers.has('X-CSRF-Token')).toBe(false);
	});

	it('goes out with a real call through the generated client', async () => {
		const { decommissionNode } = await import('./index');
		const fetchMock = vi.fn(
			async (_input: RequestInfo | URL) => new Response(null, { status: 204 })
		);
		vi.stubGlobal('fetch', fetchMock);
		document.cookie = 'obt_csrf=tok123; path=/';
		await decommissionNode('desk');
		const request = fetchMock.mock.calls[0][0] as Request;
		expect(request.method).toBe('DELETE');
		expect(request.headers.get('X-CSRF-Token')).toBe('tok123');
		document.cookie = 'obt_csrf=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/';
	});
});
