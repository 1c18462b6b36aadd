// The logic of model operations that pages show: label selectors in kubectl's text form (as
// core/obt/core/selectors.py reads them), per-node progress summed from a task's outcomes, and
// the confirmation a person reads before a task starts.
import type {
	Action,
	Activity,
	LabelSelector,
	LabelSelectorRequirement,
	NewModelSet,
	NodeOutcome,
	OllamaModelSet,
	OllamaTask,
	OllamaTaskSpec,
	StepPhase,
	TaskPhase
} from '$lib/api';

const KEY = String.raw`(?:[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?`;
const VALUE_RE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
const KEY_RE = new RegExp(`^${KEY}$`);
const SET_RE = new RegExp(`^(${KEY})\\s+(in|notin)\\s+\\((.*)\\)$`);
const EQ_RE = new RegExp(`^(${KEY})\\s*(==|=|!=)\\s*(.*)$`);

/** Split on commas outside parentheses. */
function splitParts(text: string): string[] {
	const parts: string[] = [];
	let depth = 0;
	let current = '';
	for (const char of text) {
		if (char === '(') depth += 1;
		else if (char === ')') depth -= 1;
		if (char === ',' && depth === 0) {
			parts.push(current);
			current = '';
		} else current += char;
	}
	parts.push(current);
	return parts.map((p) => p.trim());
}

function labelValue(value: string, part: string): string {
	if (value.length > 63 || !VALUE_RE.test(value))
		throw new Error(`selector "${part}": "${value}" is not a label value`);
	return value;
}

/**
 * kubectl's `-l` text ('gpu=h100,zone!=b,tier in (a,b),team notin (x),ssd,!spot') as a
 * LabelSelector; throws an Error naming the part that is not a selector.
 */
export function parseSelector(text: string): LabelSelector {
	const labels: Record<string, string> = {};
	const expressions: LabelSelectorRequirement[] = [];
	if (!text.trim()) return {};
	for (const part of splitParts(text)) {
		if (!part) throw new Error(`selector "${text}" has an empty part (two commas?)`);
		let match: RegExpMatchArray | null;
		if ((match = part.match(SET_RE))) {
			const [, key, op, inner] = match;
			const values = inner
				.split(',')
				.map((v) => v.trim())
				.filter(Boolean)
				.map((v) => labelValue(v, part));
			if (!values.length) throw new Error(`selector "${part}": ${op} needs at least one value`);
			expressions.push({ key, operator: op === 'in' ? 'In' : 'NotIn', values: values.sort() });
		} else if ((match = part.match(EQ_RE))) {
			const [, key, op] = match;
			const value = labelValue(match[3].trim(), part);
			if (op === '!=') expressions.push({ key, operator: 'NotIn', values: [value] });
			else if (key in labels && labels[key] !== value)
				throw new Error(`selector "${text}" asks ${key} to equal two values`);
			else labels[key] = value;
		} else if (part.startsWith('!') && KEY_RE.test(part.slice(1).trim())) {
			expressions.push({ key: part.slice(1).trim(), operator: 'DoesNotExist' });
		} else if (KEY_RE.test(part)) {
			expressions.push({ key: part, operator: 'Exists' });
		} else {
			throw new Error(
				`selector part "${part}" is not one of key=value, key!=value, key in (a,b), key notin (a,b), key, !key`
			);
		}
	}
	const selector: LabelSelector = {};
	if (Object.keys(labels).length) selector.matchLabels = labels;
	if (expressions.length) selector.matchExpressions = expressions;
	return selector;
}

/** The kubectl text form of a selector ('' selects every node). */
export function formatSelector(selector: LabelSelector | null | undefined): string {
	if (!selector) return '';
	const parts = Object.entries(selector.matchLabels ?? {})
		.sort(([a], [b]) => a.localeCompare(b))
		.map(([k, v]) => `${k}=${v}`);
	for (const req of selector.matchExpressions ?? []) {
		const values = (req.values ?? []).join(',');
		if (req.operator === 'In') parts.push(`${req.key} in (${values})`);
		else if (req.operator === 'NotIn')
			parts.push(
				(req.values ?? []).length === 1 ? `${req.key}!=${values}` : `${req.key} notin (${values})`
			);
		else if (req.operator === 'Exists') parts.push(req.key);
		else parts.push(`!${req.key}`);
	}
	return parts.join(',');
}

/** Whether a node with `labels` is picked by `selector` (none or empty picks every node). */
export function selects(
	selector: LabelSelector | null | undefined,
	labels: Record<string, string> | null | undefined
): boolean {
	if (!selector) return true;
	const have = labels ?? {};
	for (const [key, value] of Object.entries(selector.matchLabels ?? {}))
		if (have[key] !== value) return false;
	for (const req of selector.matchExpressions ?? []) {
		const present = Object.prototype.hasOwnProperty.call(have, req.key);
		const values = req.values ?? [];
		if (req.operator === 'In' && !(present && values.includes(have[req.key]))) return false;
		if (req.operator === 'NotIn' && present && values.includes(have[req.key])) return false;
		if (req.operator === 'Exists' && !present) return false;
		if (req.operator === 'DoesNotExist' && present) return false;
	}
	return true;
}

/** Where an action goes: named nodes or a label selector (its text form). */
export type Target =
	{ kind: 'nodes'; nodes: readonly string[] } | { kind: 'selector'; selector: string };

/** The spec POST /api/v1/tasks takes; throws naming what is missing or malformed. */
export function taskSpec(
	action: Action,
	models: string[],
	target: Target,
	options: { keepAlive?: string; evict?: boolean } = {}
): OllamaTaskSpec {
	if (!models.length) throw new Error('Select at least one model.');
	const spec: OllamaTaskSpec = { action, models: models.map((name) => ({ name })) };
	if (target.kind === 'nodes') {
		if (!target.nodes.length) throw new Error('Select at least one node.');
		spec.nodes = [...target.nodes];
	} else {
		if (!target.selector.trim())
			throw new Error('Give a label selector (e.g. zone=zone-1), or pick nodes.');
		spec.nodeSelector = parseSelector(target.selector);
	}
	const keepAlive = options.keepAlive?.trim();
	if (action === 'load' && keepAlive) spec.keepAlive = keepAlive;
	if ((action === 'delete' || action === 'unload') && options.evict) spec.evict = true;
	return spec;
}

export const ACTION_VERBS: Record<Action, { label: string; ing: string; past: string }> = {
	pull: { label: 'Pull', ing: 'Pulling', past: 'pulled' },
	delete: { label: 'Delete', ing: 'Deleting', past: 'deleted' },
	load: { label: 'Load', ing: 'Loading', past: 'loaded' },
	unload: { label: 'Unload', ing: 'Unloading', past: 'unloaded' }
};

/** "a", "a and b", "a, b and c"; more than `max` names end in "and N more". */
export function listNames(names: readonly string[], max = 5): string {
	if (!names.length) return '';
	const shown = names.slice(0, max);
	const rest = names.length - shown.length;
	if (rest > 0) return `${shown.join(', ')} and ${rest} more`;
	if (shown.length === 1) return shown[0];
	return `${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1]}`;
}

export interface Confirmation {
	title: string;
	/** What will happen, on which nodes. */
	body: string;
	/** Delete and unload: where a model is loaded now (model -> nodes), else empty. */
	loaded: { model: string; nodes: string[] }[];
	warning: string | null;
	danger: boolean;
}

function plural(n: number, word: string): string {
	return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * The confirmation a person reads before a task starts. `loadedOn` maps each model to the nodes
 * it is loaded on now (among the target nodes); delete and unload warn about them.
 */
export function confirmation(
	action: Action,
	models: string[],
	target: Target,
	loadedOn: Record<string, string[]> = {},
	evict = false
): Confirmation {
	const verb = ACTION_VERBS[action];
	const what = `${plural(models.length, 'model')} (${listNames(models)})`;
	const where =
		target.kind === 'nodes'
			? `${plural(target.nodes.length, 'node')}: ${listNames(target.nodes, 10)}`
			: `every node matching the selector ${target.selector.trim()}`;
	const bodies: Record<Action, string> = {
		pull: `Pull ${what} on ${where}. Nodes that already have a model skip it.`,
		delete: `Delete ${what} from ${where}. Each node frees the disk space; pulling a model back downloads it again.`,
		load: `Load ${what} into memory on ${where}.`,
		unload: `Unload ${what} from memory on ${where}.`
	};
	const warns = action === 'delete' || action === 'unload';
	const loaded = warns
		? models
				.map((model) => ({ model, nodes: [...(loadedOn[model] ?? [])].sort() }))
				.filter((entry) => entry.nodes.length)
		: [];
	let warning: string | null = null;
	if (loaded.length) {
		const count = new Set(loaded.flatMap((e) => e.nodes)).size;
		const it = loaded.length === 1 ? 'it' : 'them';
		warning = evict
			? `Loaded now on ${plural(count, 'node')}: ${verb.ing.toLowerCase()} takes ${it} away from whoever uses ${it} there.`
			: `Loaded now on ${plural(count, 'node')}: those nodes skip ${it} (reason Busy) unless you also act where ${it} ${loaded.length === 1 ? 'is' : 'are'} loaded.`;
	}
	return {
		title: `${verb.label} ${plural(models.length, 'model')}?`,
		body: bodies[action],
		loaded,
		warning,
		danger: warns
	};
}

const FINISHED: ReadonlySet<string> = new Set(['Succeeded', 'Failed', 'Cancelled']);

/** A task in this phase does no more work. */
export function taskFinished(phase: TaskPhase | null | undefined): boolean {
	return phase != null && FINISHED.has(phase);
}

export interface NodeProgress {
	node: string;
	/** The node's phase across its models: Failed over Running over Pending over the rest. */
	phase: StepPhase;
	completedBytes: number;
	totalBytes: number;
	/** 0..100, or null when no byte counts are known (delete, load, unload). */
	percent: number | null;
	models: string[];
	reason: string | null;
	message: string;
}

const PHASE_RANK: Record<StepPhase, number> = {
	Failed: 0,
	Running: 1,
	Pending: 2,
	Cancelled: 3,
	Skipped: 4,
	Succeeded: 5
};

/** Per-node progress, one row per node, summing bytes over a node's entries (one per model). */
export function nodeProgress(outcomes: readonly NodeOutcome[]): NodeProgress[] {
	const rows = new Map<string, NodeProgress>();
	const order: string[] = [];
	for (const o of outcomes) {
		const node = o.node;
		let row = rows.get(node);
		if (!row) {
			row = {
				node,
				phase: o.phase,
				completedBytes: 0,
				totalBytes: 0,
				percent: null,
				models: [],
				reason: null,
				message: ''
			};
			rows.set(node, row);
			order.push(node);
		} else if (PHASE_RANK[o.phase] < PHASE_RANK[row.phase]) row.phase = o.phase;
		if (o.model && !row.models.includes(o.model)) row.models.push(o.model);
		if (o.totalBytes) {
			row.totalBytes += o.totalBytes;
			row.completedBytes += Math.min(o.completedBytes ?? 0, o.totalBytes);
		}
		if (o.reason && (!row.reason || o.phase === 'Failed')) {
			row.reason = o.reason;
			row.message = o.message ?? '';
		} else if (!row.message && o.message) row.message = o.message;
	}
	return order.map((node) => {
		const row = rows.get(node)!;
		if (row.totalBytes > 0) {
			row.percent =
				row.phase === 'Succeeded' ? 100 : Math.floor((row.completedBytes / row.totalBytes) * 100);
		} else if (row.phase === 'Succeeded') row.percent = 100;
		return row;
	});
}

/**
 * Each target node's progress for a task: its outcomes summed, plus "Pending" rows for named
 * nodes the status does not list yet (the status keeps at most 100 nodes, failures first).
 */
export function taskProgress(task: OllamaTask): NodeProgress[] {
	const rows = nodeProgress(task.status?.nodes ?? []);
	const seen = new Set(rows.map((r) => r.node));
	for (const node of task.spec.nodes ?? []) {
		if (seen.has(node)) continue;
		rows.push({
			node,
			phase: task.status?.phase === 'Cancelled' ? 'Cancelled' : 'Pending',
			completedBytes: 0,
			totalBytes: 0,
			percent: null,
			models: [],
			reason: null,
			message: ''
		});
	}
	return rows;
}

/** Bytes over every node: what a whole pull has done of what it has to do. */
export function totalBytes(rows: readonly NodeProgress[]): { completed: number; total: number } {
	return rows.reduce(
		(sum, r) => ({ completed: sum.completed + r.completedBytes, total: sum.total + r.totalBytes }),
		{ completed: 0, total: 0 }
	);
}

/** The short text of a task's target: 'a, b' or 'selector zone=a'. */
export function describeTarget(spec: OllamaTaskSpec): string {
	if (spec.nodes?.length) return listNames(spec.nodes, 3);
	const text = formatSelector(spec.nodeSelector);
	return text ? `selector ${text}` : 'every node';
}

/** Activity entries: running first (as the agent orders them), then the most recent finished. */
export function splitActivity(activity: readonly Activity[] | null | undefined): {
	running: Activity[];
	finished: Activity[];
} {
	const all = activity ?? [];
	const running = all.filter((a) => a.phase === 'Running' || a.phase === 'Pending');
	const finished = all
		.filter((a) => a.phase !== 'Running' && a.phase !== 'Pending')
		.sort((a, b) => (b.finishedAt ?? '').localeCompare(a.finishedAt ?? ''));
	return { running, finished };
}

/** A percentage for one activity step (null without byte counts). */
export function stepPercent(
	step: Pick<Activity, 'phase' | 'completedBytes' | 'totalBytes'>
): number | null {
	if (step.phase === 'Succeeded') return 100;
	if (!step.totalBytes) return null;
	return Math.floor((Math.min(step.completedBytes ?? 0, step.totalBytes) / step.totalBytes) * 100);
}

/** The model set form's fields, as text and checkboxes. */
export interface ModelSetForm {
	name: string;
	models: string;
	selector: string;
	keepLoaded: boolean;
	maxConcurrentPulls: string;
	prune: boolean;
}

export const EMPTY_MODEL_SET_FORM: ModelSetForm = {
	name: '',
	models: '',
	selector: '',
	keepLoaded: false,
	maxConcurrentPulls: '1',
	prune: false
};

const NAME_RE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** The form as PUT/POST /api/v1/modelsets takes it; throws naming the field that is wrong. */
export function modelSetFromForm(form: ModelSetForm): NewModelSet {
	const name = form.name.trim();
	if (!NAME_RE.test(name))
		throw new Error(
			'Name: lower-case letters, digits, "-" and ".", starting and ending with a letter or digit.'
		);
	const models = [
		...new Set(
			form.models
				.split(/[\s,]+/)
				.map((m) => m.trim())
				.filter(Boolean)
		)
	];
	if (!models.length) throw new Error('Models: name at least one model, e.g. llama3.2.');
	const pulls = form.maxConcurrentPulls.trim() || '1';
	let maxConcurrentPulls: number | string;
	if (/^[1-9][0-9]*$/.test(pulls)) maxConcurrentPulls = Number(pulls);
	else if (/^([1-9][0-9]?|100)%$/.test(pulls)) maxConcurrentPulls = pulls;
	else throw new Error('Pulls at once: a count (1 or more) or a percentage like 25%.');
	let nodeSelector: LabelSelector;
	try {
		nodeSelector = parseSelector(form.selector);
	} catch (err) {
		throw new Error(`Node selector: ${(err as Error).message}`, { cause: err });
	}
	return {
		metadata: { name },
		spec: {
			models: models.map((m) => {
				const [model, digest] = m.split('@');
				return digest ? { name: model, digest } : { name: model };
			}),
			nodeSelector,
			keepLoaded: form.keepLoaded,
			maxConcurrentPulls,
			prune: form.prune
		}
	};
}

/** A set's spec as the form shows it (pinned digests as name@digest). */
export function formFromModelSet(set: OllamaModelSet): ModelSetForm {
	return {
		name: set.metadata.name,
		models: set.spec.models.map((m) => (m.digest ? `${m.name}@${m.digest}` : m.name)).join(', '),
		selector: formatSelector(set.spec.nodeSelector),
		keepLoaded: !!set.spec.keepLoaded,
		maxConcurrentPulls: String(set.spec.maxConcurrentPulls ?? 1),
		prune: !!set.spec.prune
	};
}

/** "Reason: message", either alone when the other is empty. */
export function reasonText(
	reason: string | null | undefined,
	message: string | null | undefined
): string {
	return [reason, message].filter((part) => part && part.trim()).join(': ');
}
