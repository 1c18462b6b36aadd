// The API's shapes, from the client generated out of openapi.json (see `pnpm run gen:api`).
export type {
	AuditPage,
	AuditRecord,
	Me,
	PrincipalOut,
	Condition,
	CpuInfo,
	FleetSummary,
	GpuInfo,
	GpuTelemetry,
	HardwareStatus,
	InstalledModel,
	LoadedModel,
	MemoryInfo,
	ModelDetail,
	ModelPage,
	ModelVariant,
	NodeDetail,
	NodeListItem,
	NodeOllama,
	NodePage,
	NpuInfo,
	OsInfo,
	PhaseChange,
	RemovedNode,
	Telemetry
} from './generated';
import type {
	NodeListItem,
	ListNodesData,
	ListModelsData,
	ListAuditEntriesData
} from './generated';

export type Phase = NodeListItem['phase'];
export type NodeQuery = NonNullable<ListNodesData['query']>;
export type NodeSort = NonNullable<NodeQuery['sort']>;
export type ModelQuery = NonNullable<ListModelsData['query']>;

export type NodeSortKey = Exclude<NodeSort, `-${string}`>;

// Runtime lists checked against the generated types: a phase or sort key the API adds or drops
// makes `npm run check` fail here (a Record needs exactly the union's keys), so they cannot drift.
const PHASE_ORDER: Record<Phase, number> = { Ready: 0, NotReady: 1, Pending: 2, Unknown: 3 };
/** Every liveness phase, in the order the dashboard shows them. */
export const PHASES = (Object.keys(PHASE_ORDER) as Phase[]).sort(
	(a, b) => PHASE_ORDER[a] - PHASE_ORDER[b]
);

const NODE_SORT_KEYS_RECORD: Record<NodeSortKey, true> = {
	name: true,
	phase: true,
	vramTotal: true,
	vramFree: true,
	models: true,
	loaded: true,
	gpus: true,
	updatedAt: true,
	ollamaVersion: true
};
/** Every key the node list sorts by (each also descending with a leading '-'). */
export const NODE_SORT_KEYS = Object.keys(NODE_SORT_KEYS_RECORD) as NodeSortKey[];
export type AuditQuery = NonNullable<ListAuditEntriesData['query']>;
export type Role = 'viewer' | 'operator' | 'admin';
