// The API's shapes, from the client generated out of openapi.json (see `pnpm run gen:api`).
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
	Telemetry
} from './generated';
import type { NodeListItem, ListNodesData, ListModelsData } from './generated';

export type Phase = NodeListItem['phase'];
export type NodeQuery = NonNullable<ListNodesData['query']>;
export type NodeSort = NonNullable<NodeQuery['sort']>;
export type ModelQuery = NonNullable<ListModelsData['query']>;
