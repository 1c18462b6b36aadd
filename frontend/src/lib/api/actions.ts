// Model operations (issue 15): tasks and model sets, in their wire form (camelCase, as
// core/obt/core/models/actions.py defines them). Calls go through the generated client, so the
// CSRF header and the 401 handling are the same as every other call.
import { client } from './generated/client.gen';
import { unwrap } from './unwrap';

export type Action = 'pull' | 'delete' | 'load' | 'unload';
export type TaskPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Cancelled';
export type StepPhase = TaskPhase | 'Skipped';
export type MemberState = 'Ready' | 'Pulling' | 'Waiting' | 'Failed';

export interface ObjectMeta {
	name: string;
	uid?: string | null;
	generation?: number | null;
	creationTimestamp?: string | null;
	labels?: Record<string, string> | null;
	resourceVersion?: string | null;
}

export interface ModelRef {
	name: string;
	digest?: string | null;
}

export interface LabelSelectorRequirement {
	key: string;
	operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
	values?: string[] | null;
}

export interface LabelSelector {
	matchLabels?: Record<string, string> | null;
	matchExpressions?: LabelSelectorRequirement[] | null;
}

export interface ActionCondition {
	type: string;
	status: string;
	reason: string;
	message?: string;
	lastTransitionTime: string;
}

export interface OllamaTaskSpec {
	action: Action;
	models: ModelRef[];
	nodes?: string[] | null;
	nodeSelector?: LabelSelector | null;
	maxConcurrent?: number | null;
	keepAlive?: string | null;
	ttlSecondsAfterFinished?: number | null;
	cancel?: boolean;
	evict?: boolean;
}

export interface NodeOutcome {
	node: string;
	phase: StepPhase;
	model?: string | null;
	reason?: string | null;
	message?: string;
	completedBytes?: number | null;
	totalBytes?: number | null;
	finishedAt?: string | null;
}

export interface OllamaTaskStatus {
	phase?: TaskPhase;
	selected?: number;
	succeeded?: number;
	failed?: number;
	running?: number;
	pending?: number;
	admitted?: string[] | null;
	nodes?: NodeOutcome[];
	startTime?: string | null;
	completionTime?: string | null;
	observedGeneration?: number | null;
	conditions?: ActionCondition[];
}

export interface OllamaTask {
	apiVersion?: string;
	kind?: string;
	metadata: ObjectMeta;
	spec: OllamaTaskSpec;
	status?: OllamaTaskStatus | null;
}

export interface OllamaModelSetSpec {
	models: ModelRef[];
	nodeSelector?: LabelSelector | null;
	keepLoaded?: boolean;
	maxConcurrentPulls?: number | string;
	prune?: boolean;
}

export interface MemberStatus {
	node: string;
	state: MemberState;
	missing?: string[];
	drifted?: string[];
	reason?: string | null;
	message?: string;
	completedBytes?: number | null;
	totalBytes?: number | null;
}

export interface OllamaModelSetStatus {
	selected?: number;
	ready?: number;
	pulling?: number;
	waiting?: number;
	failed?: number;
	drifted?: number;
	admitted?: string[];
	nodes?: MemberStatus[];
	observedGeneration?: number | null;
	conditions?: ActionCondition[];
}

export interface OllamaModelSet {
	apiVersion?: string;
	kind?: string;
	metadata: ObjectMeta;
	spec: OllamaModelSetSpec;
	status?: OllamaModelSetStatus | null;
}

/** One step of work on a node (OllamaNode status.activity). */
export interface Activity {
	sourceKind: 'OllamaTask' | 'OllamaModelSet';
	source: string;
	sourceUid?: string | null;
	generation?: number | null;
	action: Action;
	model: string;
	phase: StepPhase;
	reason?: string | null;
	message?: string;
	digest?: string | null;
	completedBytes?: number | null;
	totalBytes?: number | null;
	attempts?: number;
	startedAt?: string | null;
	finishedAt?: string | null;
}

/** What POST /api/v1/tasks takes: no name (the API makes one) unless given. */
export interface NewTask {
	metadata?: { name?: string };
	spec: OllamaTaskSpec;
}

export interface NewModelSet {
	metadata: { name: string };
	spec: OllamaModelSetSpec;
}

/** A list answer: a plain array or a page with `items`. */
function items<T>(body: T[] | { items?: T[] } | null | undefined): T[] {
	if (Array.isArray(body)) return body;
	return body?.items ?? [];
}

const JSON_HEADERS = { 'Content-Type': 'application/json' };

export async function listTasks(signal?: AbortSignal): Promise<OllamaTask[]> {
	return items(await unwrap(client.get<{ 200: OllamaTask[] }>({ url: '/api/v1/tasks', signal })));
}

export function getTask(name: string, signal?: AbortSignal): Promise<OllamaTask> {
	return unwrap(
		client.get<{ 200: OllamaTask }>({ url: '/api/v1/tasks/{name}', path: { name }, signal })
	);
}

export function createTask(task: NewTask): Promise<OllamaTask> {
	return unwrap(
		client.post<{ 201: OllamaTask }>({ url: '/api/v1/tasks', body: task, headers: JSON_HEADERS })
	);
}

export function cancelTask(name: string): Promise<OllamaTask> {
	return unwrap(
		client.post<{ 200: OllamaTask }>({ url: '/api/v1/tasks/{name}/cancel', path: { name } })
	);
}

export async function deleteTask(name: string): Promise<void> {
	await unwrap(client.delete({ url: '/api/v1/tasks/{name}', path: { name } }));
}

export async function listModelSets(signal?: AbortSignal): Promise<OllamaModelSet[]> {
	return items(
		await unwrap(client.get<{ 200: OllamaModelSet[] }>({ url: '/api/v1/modelsets', signal }))
	);
}

export function getModelSet(name: string, signal?: AbortSignal): Promise<OllamaModelSet> {
	return unwrap(
		client.get<{ 200: OllamaModelSet }>({
			url: '/api/v1/modelsets/{name}',
			path: { name },
			signal
		})
	);
}

export function createModelSet(set: NewModelSet): Promise<OllamaModelSet> {
	return unwrap(
		client.post<{ 201: OllamaModelSet }>({
			url: '/api/v1/modelsets',
			body: set,
			headers: JSON_HEADERS
		})
	);
}

export function updateModelSet(name: string, set: NewModelSet): Promise<OllamaModelSet> {
	return unwrap(
		client.put<{ 200: OllamaModelSet }>({
			url: '/api/v1/modelsets/{name}',
			path: { name },
			body: set,
			headers: JSON_HEADERS
		})
	);
}

export async function deleteModelSet(name: string): Promise<void> {
	await unwrap(client.delete({ url: '/api/v1/modelsets/{name}', path: { name } }));
}
