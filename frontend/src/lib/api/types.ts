// Provisional: mirrors api/obt/api/*/schemas.py until frontend/openapi.json lands, then these
// become re-exports of the generated client's types.
export type Phase = 'Pending' | 'Ready' | 'NotReady' | 'Unknown';
export type GpuVendor = 'nvidia' | 'amd' | 'intel' | 'apple' | 'microsoft' | 'other';

export interface NodeListItem {
	name: string;
	displayName?: string | null;
	source: 'daemonset' | 'standalone';
	phase: Phase;
	phaseSince?: string | null;
	ollamaVersion?: string | null;
	ollamaReachable: boolean;
	gpuCount: number;
	gpuSummary: string;
	vramTotalBytes: number;
	vramLoadedBytes: number;
	vramFreeBytes: number;
	ramTotalBytes: number;
	ramAvailableBytes: number;
	modelCount: number;
	loadedCount: number;
	os: string;
	cpu: string;
	agentVersion?: string | null;
	labels?: { [key: string]: string };
	createdAt: string;
	updatedAt: string;
	lastSeenAt?: string | null;
}

export interface CpuInfo {
	model?: string | null;
	vendor?: string | null;
	arch?: string | null;
	physicalCores?: number | null;
	logicalCores?: number | null;
	sockets?: number | null;
	maxFrequencyMhz?: number | null;
	flags?: string[];
}
export interface MemoryInfo {
	totalBytes?: number | null;
	availableBytes?: number | null;
	swapTotalBytes?: number | null;
}
export interface OsInfo {
	system?: string | null;
	release?: string | null;
	distro?: string | null;
	distroVersion?: string | null;
	kernel?: string | null;
	machineId?: string | null;
	hostname?: string | null;
}
export interface GpuInfo {
	index: number;
	vendor: GpuVendor;
	name: string;
	uuid?: string | null;
	pciBusId?: string | null;
	memoryTotalBytes?: number | null;
	unifiedMemory?: boolean | null;
	driverVersion?: string | null;
	computeApi?: string | null;
	computeCapability?: string | null;
	architecture?: string | null;
	cores?: number | null;
	migMode?: boolean | null;
}
export interface NpuInfo {
	vendor: string;
	name: string;
	pciDeviceId?: string | null;
	driver?: string | null;
	cores?: number | null;
	tops?: number | null;
}
export interface HardwareStatus {
	cpu?: CpuInfo;
	memory?: MemoryInfo;
	os?: OsInfo;
	gpus?: GpuInfo[];
	npus?: NpuInfo[];
	errors?: string[];
}
export interface InstalledModel {
	name: string;
	digest?: string | null;
	size?: number | null;
	modifiedAt?: string | null;
	family?: string | null;
	parameterSize?: string | null;
	quantizationLevel?: string | null;
}
export interface LoadedModel {
	name: string;
	digest?: string | null;
	size?: number | null;
	sizeVram?: number | null;
	contextLength?: number | null;
	expiresAt?: string | null;
}
export interface Condition {
	type: string;
	status: 'True' | 'False' | 'Unknown';
	reason: string;
	message?: string;
	lastTransitionTime: string;
}
export interface PhaseChange {
	phase: Phase;
	reason: string;
	message: string;
	at: string;
}
export interface NodeOllama {
	url?: string | null;
	reachable?: boolean;
	error?: string | null;
	version?: string | null;
}
export interface NodeDetail extends NodeListItem {
	uid?: string | null;
	resourceVersion?: string | null;
	spec: {
		source: string;
		nodeName?: string | null;
		hostId?: string | null;
		displayName?: string | null;
	};
	hardware?: HardwareStatus | null;
	ollama?: NodeOllama;
	models?: InstalledModel[];
	loaded?: LoadedModel[];
	agent?: { version?: string | null; mode?: string | null; startedAt?: string | null } | null;
	conditions?: Condition[];
	history?: PhaseChange[];
}
export interface PageNodeListItem {
	items: NodeListItem[];
	total: number;
	limit: number;
	offset: number;
}
export interface FleetSummary {
	nodes: number;
	byPhase: { [key: string]: number };
	bySource: { [key: string]: number };
	vramTotalBytes: number;
	vramLoadedBytes: number;
	ramTotalBytes: number;
	gpus: number;
	gpusByVendor: { [key: string]: number };
	ollamaVersions: { [key: string]: number };
	modelsDistinct: number;
	modelsLoaded: number;
	removedLastHour: number;
}
export interface ModelVariant {
	name: string;
	digest?: string | null;
	family?: string | null;
	parameterSize?: string | null;
	quantizationLevel?: string | null;
	size?: number | null;
	nodeCount: number;
	loadedCount: number;
}
export interface PageModelVariant {
	items: ModelVariant[];
	total: number;
	limit: number;
	offset: number;
}
export interface ModelDetail {
	name: string;
	variants: ModelVariant[];
	nodes: string[];
	loadedOn: string[];
}
