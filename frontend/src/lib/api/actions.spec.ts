import {
	ApiError,
	cancelTask,
	createModelSet,
	createTask,
	deleteModelSet,
	deleteTask,
	getModelSet,
	getTask,
	listModelSets,
	listTasks,
	updateModelSet
} from './index';

type Call = { method: string; path: string; body: unknown };

/** A fetch that answers every call with `body` and records what was asked. */
function fakeFetch(status: number, body: unknown) {
	const calls: Call[] = [];
	const fetchMock = vi.fn(async (input: RequestInfo | URL) => {
		const request = input as Request;
		const text = await request.text();
		calls.push({
			method: request.method,
			path: new URL(request.url).pathname,
			body: text ? JSON.parse(text) : null
		});
		return new Response(status === 204 ? null : JSON.stringify(body), {
			status,
			headers: { 'content-type': 'application/json' }
		});
	});
	vi.stubGlobal('fetch', fetchMock);
	return calls;
}

const TASK = { metadata: { name: 't' }, spec: { action: 'pull', models: [{ name: 'm' }] } };

describe('model operation calls', () => {
	it('read lists as pages, with the query', async () => {
		const calls = fakeFetch(200, { items: [TASK], total: 1, limit: 50, offset: 0 });
		expect((await listTasks({ limit: 50, offset: 50 })).items).toEqual([TASK]);
		expect((await listModelSets()).total).toBe(1);
		expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual([
			'GET /api/v1/tasks',
			'GET /api/v1/modelsets'
		]);
	});

	it('send each call to its route', async () => {
		const calls = fakeFetch(200, TASK);
		await getTask('t');
		await createTask({ spec: { action: 'pull', models: [{ name: 'm' }], nodes: ['a'] } });
		await cancelTask('t');
		await getModelSet('s');
		await createModelSet({ metadata: { name: 's' }, spec: { models: [{ name: 'm' }] } });
		await updateModelSet('s', { metadata: { name: 's' }, spec: { models: [{ name: 'm' }] } });
		expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual([
			'GET /api/v1/tasks/t',
			'POST /api/v1/tasks',
			'POST /api/v1/tasks/t/cancel',
			'GET /api/v1/modelsets/s',
			'POST /api/v1/modelsets',
			'PUT /api/v1/modelsets/s'
		]);
		expect(calls[1].body).toEqual({
			spec: { action: 'pull', models: [{ name: 'm' }], nodes: ['a'] }
		});
		const deletes = fakeFetch(204, null);
		await deleteTask('t');
		await deleteModelSet('s');
		expect(deletes.map((c) => `${c.method} ${c.path}`)).toEqual([
			'DELETE /api/v1/tasks/t',
			'DELETE /api/v1/modelsets/s'
		]);
	});

	it("throws the server's message", async () => {
		fakeFetch(422, { detail: [{ loc: ['body', 'spec', 'nodes'], msg: 'selects no node' }] });
		const failure = createTask({ spec: { action: 'pull', models: [{ name: 'm' }], nodes: ['x'] } });
		await expect(failure).rejects.toBeInstanceOf(ApiError);
		await expect(failure).rejects.toThrow('spec.nodes: selects no node');
	});
});
