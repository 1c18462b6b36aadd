import { ApiError, messageFromBody } from './client';
import type {
	FleetSummary,
	ModelDetail,
	NodeDetail,
	PageModelVariant,
	PageNodeListItem,
	Phase
} from './types';

export * from './types';
export { ApiError, describeError } from './client';

export type NodeSort =
	| 'name'
	| '-name'
	| 'phase'
	| '-phase'
	| 'vramTotal'
	| '-vramTotal'
	| 'vramFree'
	| '-vramFree'
	| 'models'
	| '-models'
	| 'loaded'
	| '-loaded'
	| 'gpus'
	| '-gpus'
	| 'updatedAt'
	| '-updatedAt'
	| 'ollamaVersion'
	| '-ollamaVersion';

export interface NodeQuery {
	search?: string;
	phase?: Phase[];
	gpuVendor?: string[];
	hasModel?: string;
	sort?: NodeSort;
	limit?: number;
	offset?: number;
}

type QueryValue = string | number | string[] | undefined | null;

function queryString(params: Record<string, QueryValue>): string {
	const qs = new URLSearchParams();
	for (const [key, value] of Object.entries(params)) {
		if (value == null || value === '') continue;
		if (Array.isArray(value)) value.forEach((v) => qs.append(key, v));
		else qs.append(key, String(value));
	}
	const s = qs.toString();
	return s ? `?${s}` : '';
}

async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
	const response = await fetch(path, { headers: { accept: 'application/json' }, signal });
	const text = await response.text();
	let body: unknown = text;
	try {
		body = text ? JSON.parse(text) : null;
	} catch {
		/* not JSON: keep the text for the message */
	}
	if (!response.ok) {
		throw new ApiError(
			response.status,
			messageFromBody(response.status, body, response.statusText)
		);
	}
	return body as T;
}

export function listNodes(query: NodeQuery = {}, signal?: AbortSignal): Promise<PageNodeListItem> {
	return getJson(
		`/api/v1/nodes${queryString({
			search: query.search?.trim(),
			phase: query.phase,
			gpuVendor: query.gpuVendor,
			hasModel: query.hasModel,
			sort: query.sort,
			limit: query.limit,
			offset: query.offset
		})}`,
		signal
	);
}

export function getNode(name: string, signal?: AbortSignal): Promise<NodeDetail> {
	return getJson(`/api/v1/nodes/${encodeURIComponent(name)}`, signal);
}

export function getFleetSummary(signal?: AbortSignal): Promise<FleetSummary> {
	return getJson('/api/v1/fleet/summary', signal);
}

export function listModels(
	query: { search?: string; sort?: string; limit?: number; offset?: number } = {},
	signal?: AbortSignal
): Promise<PageModelVariant> {
	return getJson(
		`/api/v1/models${queryString({ ...query, search: query.search?.trim() })}`,
		signal
	);
}

export function getModel(name: string, signal?: AbortSignal): Promise<ModelDetail> {
	return getJson(`/api/v1/models/${name.split('/').map(encodeURIComponent).join('/')}`, signal);
}
