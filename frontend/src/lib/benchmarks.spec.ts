import type { CompareCell, CompareMatrix, CompareRow } from './api';
import {
	EMPTY_BENCHMARK_FORM,
	barSeries,
	benchmarkFinished,
	benchmarkFromForm,
	bestText,
	buildMatrix,
	cvText,
	errorRange,
	exportHref,
	meanSd,
	newBenchmarkHref,
	regressionText,
	nextSort,
	sortMatrix,
	splitModels
} from './benchmarks';

function cell(
	node: string,
	tg: number,
	pp = tg * 10,
	extra: Partial<CompareCell> = {}
): CompareCell {
	return {
		node,
		result: `r-${node}`,
		tgMean: tg,
		tgStddev: tg / 20,
		ppMean: pp,
		ppStddev: pp / 50,
		ttftMs: 100,
		cv: 0.05,
		placement: 'gpu',
		flags: [],
		measuredAt: '2026-12-03T20:00:00Z',
		...extra
	};
}

function row(model: string, cells: CompareCell[], best: CompareRow['best'] = null): CompareRow {
	return {
		model,
		key: `k-${model}`,
		modelDigest: 'abc',
		ollamaVersion: '0.6.0',
		otherKeys: 0,
		cells,
		best
	};
}

const COMPARE: CompareMatrix = {
	nodes: ['gpu-b', 'gpu-a'],
	rows: [
		row('llama3.2:3b', [cell('gpu-a', 40), cell('gpu-b', 80)]),
		row('qwen2.5:7b', [cell('gpu-b', 30, 900)])
	]
};

describe('the new-benchmark form', () => {
	it('makes the spec POST /api/v1/benchmarks takes', () => {
		const created = benchmarkFromForm(
			{ ...EMPTY_BENCHMARK_FORM, models: 'llama3.2:3b, qwen2.5:7b llama3.2:3b', force: true },
			{ kind: 'nodes', nodes: ['gpu-a', 'gpu-b'] }
		);
		expect(created).toEqual({
			spec: {
				models: [{ name: 'llama3.2:3b' }, { name: 'qwen2.5:7b' }],
				repetitions: 5,
				nodes: ['gpu-a', 'gpu-b'],
				force: true,
				maxAge: '7d'
			}
		});
	});

	it('takes a selector and a name', () => {
		const created = benchmarkFromForm(
			{ ...EMPTY_BENCHMARK_FORM, name: 'nightly', models: 'm', repetitions: 8, maxAge: '36h' },
			{ kind: 'selector', selector: 'gpu=h100' }
		);
		expect(created.metadata).toEqual({ name: 'nightly' });
		expect(created.spec.nodeSelector).toEqual({ matchLabels: { gpu: 'h100' } });
		expect(created.spec.repetitions).toBe(8);
		expect(created.spec.maxAge).toBe('36h');
	});

	it('names the field that is wrong', () => {
		const nodes = { kind: 'nodes', nodes: ['a'] } as const;
		expect(() => benchmarkFromForm({ ...EMPTY_BENCHMARK_FORM }, nodes)).toThrow(/^Models:/);
		expect(() =>
			benchmarkFromForm({ ...EMPTY_BENCHMARK_FORM, models: 'm', repetitions: 4 }, nodes)
		).toThrow(/^Repetitions: .* at least 5/);
		expect(() =>
			benchmarkFromForm({ ...EMPTY_BENCHMARK_FORM, models: 'm', repetitions: 5.5 }, nodes)
		).toThrow(/^Repetitions:/);
		expect(() =>
			benchmarkFromForm({ ...EMPTY_BENCHMARK_FORM, models: 'm', maxAge: 'a week' }, nodes)
		).toThrow(/^Max age: "a week"/);
		expect(() =>
			benchmarkFromForm({ ...EMPTY_BENCHMARK_FORM, models: 'm' }, { kind: 'nodes', nodes: [] })
		).toThrow(/^Nodes:/);
		expect(() =>
			benchmarkFromForm(
				{ ...EMPTY_BENCHMARK_FORM, models: 'm' },
				{ kind: 'selector', selector: ' ' }
			)
		).toThrow(/^Nodes: give a label selector/);
	});

	it('splits model names on commas and blanks', () => {
		expect(splitModels(' a, b  c,,a ')).toEqual(['a', 'b', 'c']);
	});

	it('links from the Models page selection to the filled-in form', () => {
		expect(newBenchmarkHref(['a:1', 'b'], { kind: 'nodes', nodes: ['n1', 'n2'] })).toBe(
			'/benchmarks?new=1&models=a%3A1%2Cb&nodes=n1%2Cn2'
		);
		expect(newBenchmarkHref(['a'], { kind: 'selector', selector: 'gpu=h100' })).toBe(
			'/benchmarks?new=1&models=a&selector=gpu%3Dh100'
		);
		expect(newBenchmarkHref(['a'], { kind: 'nodes', nodes: [] })).toBe(
			'/benchmarks?new=1&models=a'
		);
	});

	it('knows when a benchmark is over', () => {
		expect(benchmarkFinished('Running')).toBe(false);
		expect(benchmarkFinished(undefined)).toBe(false);
		expect(
			['Succeeded', 'Failed', 'Cancelled'].every((p) => benchmarkFinished(p as 'Failed'))
		).toBe(true);
	});
});

describe('the matrix', () => {
	it('has a row per node (sorted) and a column per model; a missing pair is empty', () => {
		const matrix = buildMatrix(COMPARE);
		expect(matrix.models).toEqual(['llama3.2:3b', 'qwen2.5:7b']);
		expect(matrix.rows.map((r) => r.node)).toEqual(['gpu-a', 'gpu-b']);
		expect(matrix.rows[0].cells['llama3.2:3b']?.tgMean).toBe(40);
		expect(matrix.rows[0].cells['qwen2.5:7b']).toBeUndefined();
		expect(matrix.rows[1].cells['qwen2.5:7b']?.ppMean).toBe(900);
	});

	it('sorts by a model fastest first, nodes without a result last', () => {
		const { rows } = buildMatrix({
			nodes: ['a', 'b', 'c'],
			rows: [row('m', [cell('a', 10), cell('c', 30)])]
		});
		const byModel = nextSort({ key: 'node', desc: false }, { model: 'm' });
		expect(byModel).toEqual({ key: { model: 'm' }, desc: true });
		expect(sortMatrix(rows, byModel).map((r) => r.node)).toEqual(['c', 'a', 'b']);
		const slowest = nextSort(byModel, { model: 'm' });
		expect(slowest.desc).toBe(false);
		expect(sortMatrix(rows, slowest).map((r) => r.node)).toEqual(['a', 'c', 'b']);
		const byNode = nextSort(slowest, 'node');
		expect(byNode).toEqual({ key: 'node', desc: false });
		expect(sortMatrix(rows, nextSort(byNode, 'node')).map((r) => r.node)).toEqual(['c', 'b', 'a']);
	});

	it('writes mean ± sd and the CV readably', () => {
		expect(meanSd(41.234, 0.81)).toBe('41.2 ± 0.8');
		expect(meanSd(1234.5, 20.4)).toBe('1235 ± 20');
		expect(cvText(0.034)).toBe('3.4 %');
	});
});

describe('the chart', () => {
	it('has a group per model and a bar per node with its standard deviation', () => {
		const tg = barSeries(COMPARE, 'tg');
		expect(tg.labels).toEqual(['llama3.2:3b', 'qwen2.5:7b']);
		expect(tg.series).toEqual([
			{ label: 'gpu-a', data: [40, null], errors: [2, null] },
			{ label: 'gpu-b', data: [80, 30], errors: [4, 1.5] }
		]);
		const pp = barSeries(COMPARE, 'pp');
		expect(pp.series[1].data).toEqual([800, 900]);
		expect(pp.series[1].errors).toEqual([16, 18]);
	});

	it('draws an error bar from mean - sd (not below zero) to mean + sd', () => {
		expect(errorRange(40, 2)).toEqual({ low: 38, high: 42 });
		expect(errorRange(1, 3)).toEqual({ low: 0, high: 4 });
		expect(errorRange(null, 2)).toBeNull();
		expect(errorRange(40, null)).toBeNull();
		expect(errorRange(40, 0)).toBeNull();
		expect(errorRange(40, Number.NaN)).toBeNull();
	});
});

describe('the best machine', () => {
	it('names the node, its speed and how it ran', () => {
		const text = bestText(
			row('llama3.2:3b', [cell('gpu-a', 40), cell('gpu-b', 80)], {
				node: 'gpu-b',
				tgMean: 80.04,
				placement: 'gpu',
				label: 'full GPU'
			})
		);
		expect(text).toBe(
			'Best machine for llama3.2:3b: gpu-b (80.0 tg tokens/s, full GPU) — against 1 other node.'
		);
	});

	it('says so when the fastest ran split, and names the best full-GPU node', () => {
		const best = {
			node: 'big-cpu',
			tgMean: 12,
			placement: 'split' as const,
			label: 'split GPU/CPU',
			bestFullGpu: 'gpu-a'
		};
		const cells = [cell('big-cpu', 12), cell('gpu-a', 9), cell('gpu-b', 8)];
		expect(bestText(row('m', cells, best))).toBe(
			'Best machine for m: big-cpu (12.0 tg tokens/s, split GPU/CPU); it did not run fully on the GPU there, the best full-GPU node is gpu-a — against 2 other nodes.'
		);
		expect(bestText(row('m', [cell('big-cpu', 12)], { ...best, bestFullGpu: null }))).toBe(
			'Best machine for m: big-cpu (12.0 tg tokens/s, split GPU/CPU); no node ran it fully on the GPU.'
		);
	});

	it('says when there is nothing to compare', () => {
		expect(bestText(row('m', []))).toBe('m: no comparable results yet.');
	});
});

describe('export links', () => {
	it('ask the results endpoint for a file', () => {
		expect(exportHref('csv')).toBe('/api/v1/benchmark-results?format=csv');
		expect(exportHref('json', { model: 'a:1', node: 'n' })).toBe(
			'/api/v1/benchmark-results?format=json&model=a%3A1&node=n'
		);
	});
});

describe('regressions on the history', () => {
	it('say how much slower, than what, and what changed', () => {
		const tg = { mean: 38, stddev: 0.5, min: 37, max: 39, n: 5, cv: 0.013 };
		expect(
			regressionText({
				tg,
				regression: {
					changed: 'Ollama 0.5.7 -> 0.6.0',
					previousResult: 'r0',
					previousTg: 45,
					sigmas: 14.02
				}
			})
		).toBe('38.0 tg tokens/s, 14.0 sd slower than 45.0 (Ollama 0.5.7 -> 0.6.0)');
		expect(regressionText({ tg, regression: null })).toBeNull();
	});
});
