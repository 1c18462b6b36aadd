import { NODE_SORT_KEYS, PHASES as PHASE_LIST, type NodeQuery } from '$lib/api';
import { normalizeModelName } from '$lib/modelName';

export const DEFAULT_PAGE_SIZE = 50;

// From the generated API types (src/lib/api/types.ts), so they follow the API.
const SORTS = new Set<string>(NODE_SORT_KEYS);
const PHASES = new Set<string>(PHASE_LIST);

/** The fleet query as URL parameters, so a reload or a shared link shows the same rows. */
export function queryToParams(query: NodeQuery): URLSearchParams {
	const params = new URLSearchParams();
	if (query.search?.trim()) params.set('search', query.search.trim());
	for (const phase of query.phase ?? []) params.append('phase', phase);
	for (const vendor of query.gpuVendor ?? []) params.append('gpuVendor', vendor);
	if (query.hasModel) params.set('hasModel', query.hasModel);
	if (query.sort && query.sort !== 'name') params.set('sort', query.sort);
	if (query.limit && query.limit !== DEFAULT_PAGE_SIZE) params.set('limit', String(query.limit));
	if (query.offset) params.set('offset', String(query.offset));
	return params;
}

/** The inverse of queryToParams; unknown or malformed values fall back to the defaults. */
export function queryFromParams(params: URLSearchParams): NodeQuery {
	const query: NodeQuery = { sort: 'name', limit: DEFAULT_PAGE_SIZE, offset: 0 };
	const search = params.get('search');
	if (search) query.search = search;
	const phases = params.getAll('phase').filter((p) => PHASES.has(p)) as NodeQuery['phase'];
	if (phases?.length) query.phase = phases;
	const vendors = params.getAll('gpuVendor').filter(Boolean);
	if (vendors.length) query.gpuVendor = vendors;
	const model = params.get('hasModel');
	if (model?.trim()) query.hasModel = normalizeModelName(model);
	const sort = params.get('sort');
	if (sort && SORTS.has(sort.replace(/^-/, ''))) query.sort = sort as NodeQuery['sort'];
	const limit = Number(params.get('limit'));
	if (Number.isInteger(limit) && limit >= 1 && limit <= 500) query.limit = limit;
	const offset = Number(params.get('offset'));
	if (Number.isInteger(offset) && offset > 0) query.offset = offset;
	return query;
}
