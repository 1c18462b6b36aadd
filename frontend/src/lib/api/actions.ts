// Model operations (issue 15): tasks and model sets in their wire form, through the generated
// client (`make generate`), so the CSRF header and the 401 handling are those of every other call.
import * as sdk from './generated';
import type {
	ListModelSetsData,
	ListTasksData,
	ModelSetIn,
	OllamaTaskSpec,
	OllamaTaskStatus,
	TaskIn
} from './generated';
import { unwrap } from './unwrap';

export type {
	Activity,
	LabelSelector,
	LabelSelectorRequirement,
	MemberStatus,
	ModelRef,
	ModelSetPage,
	NodeOutcome,
	OllamaModelSet,
	OllamaModelSetSpec,
	OllamaModelSetStatus,
	OllamaTask,
	OllamaTaskSpec,
	OllamaTaskStatus,
	TaskPage
} from './generated';

export type Action = OllamaTaskSpec['action'];
export type TaskPhase = NonNullable<OllamaTaskStatus['phase']>;
export type StepPhase = import('./generated').Activity['phase'];
/** What POST /api/v1/tasks takes: no name (the API makes one) unless given. */
export type NewTask = TaskIn;
export type NewModelSet = ModelSetIn;
export type TaskQuery = NonNullable<ListTasksData['query']>;
export type ModelSetQuery = NonNullable<ListModelSetsData['query']>;

export function listTasks(query: TaskQuery = {}, signal?: AbortSignal) {
	return unwrap(sdk.listTasks({ query, signal }));
}

export function getTask(name: string, signal?: AbortSignal) {
	return unwrap(sdk.getTask({ path: { name }, signal }));
}

export function createTask(task: NewTask) {
	return unwrap(sdk.createTask({ body: task }));
}

export function cancelTask(name: string) {
	return unwrap(sdk.cancelTask({ path: { name } }));
}

export async function deleteTask(name: string): Promise<void> {
	await unwrap(sdk.deleteTask({ path: { name } }));
}

export function listModelSets(query: ModelSetQuery = {}, signal?: AbortSignal) {
	return unwrap(sdk.listModelSets({ query, signal }));
}

export function getModelSet(name: string, signal?: AbortSignal) {
	return unwrap(sdk.getModelSet({ path: { name }, signal }));
}

export function createModelSet(set: NewModelSet) {
	return unwrap(sdk.createModelSet({ body: set }));
}

export function updateModelSet(name: string, set: NewModelSet) {
	return unwrap(sdk.replaceModelSet({ path: { name }, body: set }));
}

export async function deleteModelSet(name: string): Promise<void> {
	await unwrap(sdk.deleteModelSet({ path: { name } }));
}
