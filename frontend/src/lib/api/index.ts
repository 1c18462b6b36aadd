import { ApiError, messageFromBody } from './client';
import * as sdk from './generated';
import { client } from './generated/client.gen';
import type { ModelQuery, NodeQuery } from './types';

export * from './types';
export { ApiError, describeError } from './client';

// Same origin: the API serves the dashboard, and `pnpm run dev` proxies /api to it.
client.setConfig({ baseUrl: typeof location === 'undefined' ? '' : location.origin });

type SdkResult<T> = { data?: T; error?: unknown; response?: Response };

/** The generated calls resolve with {data, error}; turn an error into the one ApiError path. */
async function unwrap<T>(call: Promise<SdkResult<T>>): Promise<T> {
	const { data, error, response } = await call;
	if (response && !response.ok) {
		throw new ApiError(
			response.status,
			messageFromBody(response.status, error, response.statusText)
		);
	}
	if (error !== undefined) throw new ApiError(response?.status ?? 0, messageFromBody(0, error));
	return data as T;
}

/** Drop empty strings and empty lists so the URL carries only the filters in use. */
function clean<T extends object>(query: T): T {
	const out: Record<string, unknown> = {};
	for (const [key, value] of Object.entries(query)) {
		if (value == null) continue;
		if (typeof value === 'string' && !value.trim()) continue;
		if (Array.isArray(value) && !value.length) continue;
		out[key] = typeof value === 'string' ? value.trim() : value;
	}
	return out as T;
}

export function listNodes(query: NodeQuery = {}, signal?: AbortSignal) {
	return unwrap(sdk.listNodes({ query: clean(query), signal }));
}

export function getNode(name: string, signal?: AbortSignal) {
	return unwrap(sdk.getNode({ path: { name }, signal }));
}

export function listRemovedNodes(limit = 50, signal?: AbortSignal) {
	return unwrap(sdk.listRemovedNodes({ query: { limit }, signal }));
}

export function getFleetSummary(signal?: AbortSignal) {
	return unwrap(sdk.getFleetSummary({ signal }));
}

export function listModels(query: ModelQuery = {}, signal?: AbortSignal) {
	return unwrap(sdk.listModels({ query: clean(query), signal }));
}

export function getModel(name: string, signal?: AbortSignal) {
	return unwrap(sdk.getModel({ path: { name }, signal }));
}
