// Realistic API shapes for unit tests (the same fields the generated client types declare).
import type {
	FleetSummary,
	ModelDetail,
	ModelVariant,
	NodeDetail,
	NodeListItem,
	RemovedNode
} from '$lib/api';

const GIB = 1024 ** 3;

export function makeNode(overrides: Partial<NodeListItem> = {}): NodeListItem {
	return {
		name: 'gpu-node-1',
		displayName: null,
		source: 'daemonset',
		phase: 'Ready',
		phaseSince: '2026-01-01T00:00:00Z',
		ollamaVersion: '0.5.7',
		ollamaReachable: true,
		gpuCount: 2,
		gpuSummary: '2x H100 80GB',
		vramTotalBytes: 160 * GIB,
		vramLoadedBytes: 40 * GIB,
		vramFreeBytes: 120 * GIB,
		ramTotalBytes: 512 * GIB,
		ramAvailableBytes: 256 * GIB,
		modelCount: 12,
		loadedCount: 1,
		os: 'Ubuntu 22.04',
		cpu: 'EPYC 9654 (96c)',
		agentVersion: '0.1.0',
		labels: {},
		createdAt: '2026-01-01T00:00:00Z',
		updatedAt: '2026-01-01T00:00:00Z',
		lastSeenAt: null,
		...overrides
	};
}

export function makeDetail(overrides: Partial<NodeDetail> = {}): NodeDetail {
	return {
		...makeNode(),
		spec: { source: 'daemonset', nodeName: 'gpu-node-1' },
		hardware: {
			cpu: { model: 'AMD EPYC 9654', arch: 'x86_64', physicalCores: 96, logicalCores: 192 },
			memory: { totalBytes: 512 * GIB, availableBytes: 256 * GIB },
			os: { system: 'Linux', distro: 'Ubuntu', distroVersion: '22.04' },
			gpus: [
				{ index: 0, vendor: 'nvidia', name: 'NVIDIA H100 80GB HBM3', memoryTotalBytes: 80 * GIB },
				{ index: 1, vendor: 'nvidia', name: 'NVIDIA H100 80GB HBM3', memoryTotalBytes: 80 * GIB }
			],
			npus: []
		},
		ollama: { url: 'http://127.0.0.1:11434', reachable: true, version: '0.5.7' },
		models: [
			{ name: 'llama3.1:8b', size: 4.9 * GIB, quantizationLevel: 'Q4_K_M', family: 'llama' }
		],
		loaded: [{ name: 'llama3.1:8b', size: 6 * GIB, sizeVram: 6 * GIB, contextLength: 8192 }],
		conditions: [],
		history: [],
		...overrides
	};
}

export function makeSummary(overrides: Partial<FleetSummary> = {}): FleetSummary {
	return {
		nodes: 10,
		byPhase: { Ready: 8, NotReady: 1, Pending: 1 },
		bySource: { daemonset: 10 },
		vramTotalBytes: 1600 * GIB,
		vramLoadedBytes: 400 * GIB,
		ramTotalBytes: 5120 * GIB,
		gpus: 20,
		gpusByVendor: { nvidia: 16, amd: 4 },
		ollamaVersions: { '0.5.7': 7, '0.4.7': 3 },
		modelsDistinct: 42,
		modelsLoaded: 9,
		removedLastHour: 0,
		...overrides
	};
}

export function makeVariant(overrides: Partial<ModelVariant> = {}): ModelVariant {
	return {
		name: 'llama3.1:8b',
		digest: '46e0c10c039e',
		family: 'llama',
		parameterSize: '8.0B',
		quantizationLevel: 'Q4_K_M',
		size: 4.9 * GIB,
		nodeCount: 3,
		loadedCount: 1,
		...overrides
	};
}

export function makeModelDetail(overrides: Partial<ModelDetail> = {}): ModelDetail {
	return {
		name: 'llama3.1:8b',
		variants: [makeVariant()],
		nodes: ['a', 'b', 'c'],
		loadedOn: ['a'],
		...overrides
	};
}

export function makeRemoved(overrides: Partial<RemovedNode> = {}): RemovedNode {
	return {
		name: 'gaming-pc',
		displayName: 'Gaming PC',
		source: 'standalone',
		reason: 'AgentGone',
		removedAt: '2026-01-01T00:09:00Z',
		lastSeenAt: '2026-01-01T00:08:00Z',
		lastPhase: 'NotReady',
		os: 'Windows 11',
		cpu: 'Ryzen 9 7950X (16c)',
		ramTotalBytes: 64 * GIB,
		gpuCount: 1,
		gpuSummary: '1x RTX 4090 24GB',
		vramTotalBytes: 24 * GIB,
		ollamaVersion: '0.5.7',
		models: ['llama3.1:8b', 'qwen2.5:0.5b'],
		...overrides
	};
}
