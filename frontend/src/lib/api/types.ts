// The API's shapes, from the client generated out of openapi.json (see `npm run gen:api`).
export type {
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
import type { NodeListItem, ListNodesData, ListModelsData } from './generated';

export type Phase = NodeListItem['phase'];
export type NodeQuery = NonNullable<ListNodesData['query']>;
export type NodeSort = NonNullable<NodeQuery['sort']>;
export type ModelQuery = NonNullable<ListModelsData['query']>;
