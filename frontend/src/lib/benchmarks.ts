// The Benchmarks pages' logic (issue 16), apart from the components so that it is unit-tested:
// the new-benchmark form, the nodes x models matrix and its sorting, the chart's bars and error
// bars, and the "best machine" sentence.
import { parseSelector, type Target } from './actions';
import type {
	BestMachine,
	CompareCell,
	HistoryPoint,
	CompareMatrix,
	CompareRow,
	NewBenchmark,
	OllamaBenchmarkSpec,
	OllamaBenchmarkStatus
} from './api';

export type BenchmarkPhase = NonNullable<OllamaBenchmarkStatus['phase']>;

/** A benchmark is over: nothing more will run. */
export function benchmarkFinished(phase: BenchmarkPhase | null | undefined): boolean {
	return phase === 'Succeeded' || phase === 'Failed' || phase === 'Cancelled';
}

export const MIN_REPETITIONS = 5;
const DURATION_RE = /^\d+(s|m|h|d)$/;

/** The new-benchmark form as typed. */
export interface BenchmarkForm {
	name: string;
	/** Comma- or space-separated model names. */
	models: string;
	repetitions: number;
	force: boolean;
	maxAge: string;
}

export const EMPTY_BENCHMARK_FORM: BenchmarkForm = {
	name: '',
	models: '',
	repetitions: MIN_REPETITIONS,
	force: false,
	maxAge: '7d'
};

/** Model names from the form's text: split on commas and blanks, duplicates dropped. */
export function splitModels(text: string): string[] {
	return [...new Set(text.split(/[\s,]+/).filter(Boolean))];
}

/** What POST /api/v1/benchmarks takes; throws naming the field that is missing or wrong. */
export function benchmarkFromForm(form: BenchmarkForm, target: Target): NewBenchmark {
	const models = splitModels(form.models);
	if (!models.length) throw new Error('Models: give at least one model name.');
	const reps = Number(form.repetitions);
	if (!Number.isInteger(reps) || reps < MIN_REPETITIONS)
		throw new Error(`Repetitions: a whole number of at least ${MIN_REPETITIONS}.`);
	const maxAge = form.maxAge.trim();
	if (maxAge && !DURATION_RE.test(maxAge))
		throw new Error(`Max age: "${maxAge}" is not a duration such as 7d, 36h or 90m.`);
	const spec: OllamaBenchmarkSpec = {
		models: models.map((name) => ({ name })),
		repetitions: reps
	};
	if (target.kind === 'nodes') {
		if (!target.nodes.length) throw new Error('Nodes: select at least one node.');
		spec.nodes = [...target.nodes];
	} else {
		if (!target.selector.trim())
			throw new Error('Nodes: give a label selector (e.g. zone=zone-1), or pick nodes.');
		spec.nodeSelector = parseSelector(target.selector);
	}
	if (form.force) spec.force = true;
	if (maxAge) spec.maxAge = maxAge;
	const name = form.name.trim();
	return name ? { metadata: { name }, spec } : { spec };
}

/** The Benchmarks page's link that opens the form filled in (from the Models page). */
export function newBenchmarkHref(models: readonly string[], target: Target): string {
	const params = new URLSearchParams({ new: '1', models: models.join(',') });
	if (target.kind === 'nodes' && target.nodes.length) params.set('nodes', target.nodes.join(','));
	if (target.kind === 'selector' && target.selector.trim())
		params.set('selector', target.selector.trim());
	return `/benchmarks?${params.toString()}`;
}

// ---------------------------------------------------------------------------- the matrix

/** One node's line of the matrix: its cell per model (absent: no comparable result). */
export interface MatrixRow {
	node: string;
	cells: Record<string, CompareCell | undefined>;
}

export interface Matrix {
	models: string[];
	rows: MatrixRow[];
}

/** Nodes x models from the compare answer (nodes as rows, models as columns). */
export function buildMatrix(compare: CompareMatrix): Matrix {
	const models = compare.rows.map((r) => r.model);
	const nodes = new Set(compare.nodes);
	for (const row of compare.rows) for (const cell of row.cells) nodes.add(cell.node);
	const rows = [...nodes].sort().map((node) => {
		const cells: Record<string, CompareCell | undefined> = {};
		for (const row of compare.rows) cells[row.model] = row.cells.find((c) => c.node === node);
		return { node, cells };
	});
	return { models, rows };
}

/** Sort by node name, or by one model's tg mean (nodes without a result for it last). */
export interface MatrixSort {
	key: 'node' | { model: string };
	desc: boolean;
}

export function sortMatrix(rows: readonly MatrixRow[], sort: MatrixSort): MatrixRow[] {
	const sign = sort.desc ? -1 : 1;
	const { key } = sort;
	return [...rows].sort((a, b) => {
		if (key === 'node') return sign * a.node.localeCompare(b.node);
		const x = a.cells[key.model]?.tgMean;
		const y = b.cells[key.model]?.tgMean;
		if (x == null && y == null) return a.node.localeCompare(b.node);
		if (x == null) return 1;
		if (y == null) return -1;
		return sign * (x - y) || a.node.localeCompare(b.node);
	});
}

/** Clicking a column: the same column flips its direction; a model column starts fastest first. */
export function nextSort(current: MatrixSort, key: MatrixSort['key']): MatrixSort {
	const same =
		key === 'node'
			? current.key === 'node'
			: current.key !== 'node' && current.key.model === key.model;
	if (same) return { key, desc: !current.desc };
	return { key, desc: key !== 'node' };
}

/** "41.2 ± 0.8" (one decimal below 100, none above). */
export function meanSd(mean: number, sd: number): string {
	const digits = Math.abs(mean) >= 100 ? 0 : 1;
	return `${mean.toFixed(digits)} ± ${sd.toFixed(digits)}`;
}

/** A coefficient of variation as a percentage: 0.034 -> "3.4 %". */
export function cvText(cv: number): string {
	return `${(cv * 100).toFixed(1)} %`;
}

export const PLACEMENT_LABELS: Record<CompareCell['placement'], string> = {
	gpu: 'full GPU',
	split: 'split GPU/CPU',
	cpu: 'CPU only'
};

// ---------------------------------------------------------------------------- the chart

export type Metric = 'tg' | 'pp';

/** One bar series of the chart: a node's means per model, with their standard deviations. */
export interface BarSeries {
	label: string;
	data: (number | null)[];
	errors: (number | null)[];
}

/** The grouped bars of one metric: a group per model, a bar per node, error bar = 1 sd. */
export function barSeries(
	compare: CompareMatrix,
	metric: Metric
): {
	labels: string[];
	series: BarSeries[];
} {
	const { models, rows } = buildMatrix(compare);
	return {
		labels: models,
		series: rows.map(({ node, cells }) => ({
			label: node,
			data: models.map((m) => cells[m]?.[`${metric}Mean`] ?? null),
			errors: models.map((m) => cells[m]?.[`${metric}Stddev`] ?? null)
		}))
	};
}

/** Where an error bar goes: from mean - sd (not below 0) to mean + sd; null for no bar. */
export function errorRange(
	mean: number | null,
	sd: number | null
): { low: number; high: number } | null {
	if (mean == null || sd == null || !Number.isFinite(mean) || !Number.isFinite(sd) || sd <= 0)
		return null;
	return { low: Math.max(0, mean - sd), high: mean + sd };
}

// ---------------------------------------------------------------------------- best machine

/** The "best machine for this model" sentence from a compare row. */
export function bestText(row: Pick<CompareRow, 'model' | 'best' | 'cells'>): string {
	const best: BestMachine | null | undefined = row.best;
	if (!best) return `${row.model}: no comparable results yet.`;
	let text = `Best machine for ${row.model}: ${best.node} (${best.tgMean.toFixed(1)} tg tokens/s, ${best.label})`;
	if (best.placement !== 'gpu') {
		text += best.bestFullGpu
			? `; it did not run fully on the GPU there, the best full-GPU node is ${best.bestFullGpu}`
			: '; no node ran it fully on the GPU';
	}
	const others = row.cells.length - 1;
	if (others > 0) text += ` — against ${others} other node${others === 1 ? '' : 's'}`;
	return `${text}.`;
}

/** The export links of the results (every match as a file). */
export function exportHref(format: 'csv' | 'json', filter: { model?: string; node?: string } = {}) {
	const params = new URLSearchParams({ format });
	if (filter.model) params.set('model', filter.model);
	if (filter.node) params.set('node', filter.node);
	return `/api/v1/benchmark-results?${params.toString()}`;
}

/** A regression on the history chart: how much slower, than what, and what changed. */
export function regressionText(point: Pick<HistoryPoint, 'tg' | 'regression'>): string | null {
	const r = point.regression;
	if (!r) return null;
	return (
		`${point.tg.mean.toFixed(1)} tg tokens/s, ${r.sigmas.toFixed(1)} sd slower than ` +
		`${r.previousTg.toFixed(1)} (${r.changed})`
	);
}
