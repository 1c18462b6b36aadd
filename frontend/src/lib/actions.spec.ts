import type { NodeOutcome, OllamaModelSet, OllamaTask } from '$lib/api';
import {
	confirmation,
	describeTarget,
	formatSelector,
	formFromModelSet,
	listNames,
	reasonText,
	modelSetFromForm,
	nodeProgress,
	parseSelector,
	selects,
	splitActivity,
	stepPercent,
	taskFinished,
	taskProgress,
	taskSpec,
	totalBytes,
	EMPTY_MODEL_SET_FORM
} from './actions';

const GB = 1_000_000_000;

describe('label selectors', () => {
	it('reads every kubectl form, as core/obt/core/selectors.py does', () => {
		expect(parseSelector('gpu=h100,zone!=b,tier in (b, a),team notin (x),ssd,!spot')).toEqual({
			matchLabels: { gpu: 'h100' },
			matchExpressions: [
				{ key: 'zone', operator: 'NotIn', values: ['b'] },
				{ key: 'tier', operator: 'In', values: ['a', 'b'] },
				{ key: 'team', operator: 'NotIn', values: ['x'] },
				{ key: 'ssd', operator: 'Exists' },
				{ key: 'spot', operator: 'DoesNotExist' }
			]
		});
		expect(parseSelector('topology.kubernetes.io/zone==eu-1')).toEqual({
			matchLabels: { 'topology.kubernetes.io/zone': 'eu-1' }
		});
		expect(parseSelector('  ')).toEqual({});
	});

	it('names the part that is wrong', () => {
		expect(() => parseSelector('a=b,,c')).toThrow(/empty part/);
		expect(() => parseSelector('a=b c')).toThrow(/"b c" is not a label value/);
		expect(() => parseSelector('a in ()')).toThrow(/in needs at least one value/);
		expect(() => parseSelector('a=1,a=2')).toThrow(/asks a to equal two values/);
		expect(() => parseSelector('=x')).toThrow(/selector part "=x" is not one of/);
	});

	it('writes the text form back', () => {
		const text = 'gpu=h100,zone!=b,tier in (a,b),team notin (x,y),ssd,!spot';
		expect(formatSelector(parseSelector(text))).toBe(text);
		expect(formatSelector(null)).toBe('');
		expect(formatSelector({})).toBe('');
	});

	it('selects nodes by their labels; no selector selects every node', () => {
		const sel = parseSelector('gpu=h100,tier in (a,b),!spot,ssd,zone!=b');
		expect(selects(sel, { gpu: 'h100', tier: 'a', ssd: '' })).toBe(true);
		expect(selects(sel, { gpu: 'h100', tier: 'a', ssd: '', zone: 'b' })).toBe(false);
		expect(selects(sel, { gpu: 'a100', tier: 'a', ssd: '' })).toBe(false);
		expect(selects(sel, { gpu: 'h100', tier: 'c', ssd: '' })).toBe(false);
		expect(selects(sel, { gpu: 'h100', tier: 'a' })).toBe(false);
		expect(selects(sel, { gpu: 'h100', tier: 'a', ssd: '', spot: 'true' })).toBe(false);
		expect(selects(null, null)).toBe(true);
		expect(selects({}, { any: 'x' })).toBe(true);
		expect(selects(sel, null)).toBe(false);
	});
});

describe('taskSpec', () => {
	it('names the nodes or carries the parsed selector', () => {
		expect(taskSpec('pull', ['llama3.2'], { kind: 'nodes', nodes: ['a', 'b'] })).toEqual({
			action: 'pull',
			models: [{ name: 'llama3.2' }],
			nodes: ['a', 'b']
		});
		expect(
			taskSpec('load', ['m'], { kind: 'selector', selector: 'zone=z1' }, { keepAlive: ' 5m ' })
		).toEqual({
			action: 'load',
			models: [{ name: 'm' }],
			nodeSelector: { matchLabels: { zone: 'z1' } },
			keepAlive: '5m'
		});
	});

	it('keeps keepAlive for load and evict for delete and unload only', () => {
		const nodes = { kind: 'nodes', nodes: ['a'] } as const;
		expect(taskSpec('pull', ['m'], nodes, { keepAlive: '5m', evict: true })).toEqual({
			action: 'pull',
			models: [{ name: 'm' }],
			nodes: ['a']
		});
		expect(taskSpec('unload', ['m'], nodes, { evict: true }).evict).toBe(true);
		expect(taskSpec('delete', ['m'], nodes, { evict: false }).evict).toBeUndefined();
	});

	it('says what is missing', () => {
		expect(() => taskSpec('pull', [], { kind: 'nodes', nodes: ['a'] })).toThrow(
			'Select at least one model.'
		);
		expect(() => taskSpec('pull', ['m'], { kind: 'nodes', nodes: [] })).toThrow(
			'Select at least one node.'
		);
		expect(() => taskSpec('pull', ['m'], { kind: 'selector', selector: ' ' })).toThrow(
			/Give a label selector/
		);
		expect(() => taskSpec('pull', ['m'], { kind: 'selector', selector: 'a b' })).toThrow(
			/not one of/
		);
	});
});

describe('listNames', () => {
	it('joins names the way a sentence does', () => {
		expect(listNames([])).toBe('');
		expect(listNames(['a'])).toBe('a');
		expect(listNames(['a', 'b'])).toBe('a and b');
		expect(listNames(['a', 'b', 'c'])).toBe('a, b and c');
		expect(listNames(['a', 'b', 'c', 'd'], 2)).toBe('a, b and 2 more');
	});
});

describe('confirmation', () => {
	const two = { kind: 'nodes', nodes: ['gpu-1', 'gpu-2'] } as const;

	it('names what happens on which nodes', () => {
		const pull = confirmation('pull', ['llama3.2:latest', 'qwen2.5:7b'], two);
		expect(pull.title).toBe('Pull 2 models?');
		expect(pull.body).toBe(
			'Pull 2 models (llama3.2:latest and qwen2.5:7b) on 2 nodes: gpu-1 and gpu-2. Nodes that already have a model skip it.'
		);
		expect(pull.warning).toBeNull();
		expect(pull.danger).toBe(false);

		const load = confirmation('load', ['m'], { kind: 'selector', selector: ' zone=z1 ' });
		expect(load.title).toBe('Load 1 model?');
		expect(load.body).toBe(
			'Load 1 model (m) into memory on every node matching the selector zone=z1.'
		);
	});

	it('warns on delete and unload, listing the nodes where a model is loaded now', () => {
		const loadedOn = { 'llama3.2:latest': ['gpu-2', 'gpu-1'], 'qwen2.5:7b': [] };
		const del = confirmation('delete', ['llama3.2:latest', 'qwen2.5:7b'], two, loadedOn);
		expect(del.title).toBe('Delete 2 models?');
		expect(del.body).toContain('Delete 2 models (llama3.2:latest and qwen2.5:7b) from 2 nodes');
		expect(del.danger).toBe(true);
		expect(del.loaded).toEqual([{ model: 'llama3.2:latest', nodes: ['gpu-1', 'gpu-2'] }]);
		expect(del.warning).toBe(
			'Loaded now on 2 nodes: those nodes skip it (reason Busy) unless you also act where it is loaded.'
		);

		const evict = confirmation('unload', ['a', 'b'], two, { a: ['gpu-1'], b: ['gpu-1'] }, true);
		expect(evict.body).toBe('Unload 2 models (a and b) from memory on 2 nodes: gpu-1 and gpu-2.');
		expect(evict.warning).toBe(
			'Loaded now on 1 node: unloading takes them away from whoever uses them there.'
		);
	});

	it('does not warn on delete when nothing is loaded, nor on pull whatever is loaded', () => {
		expect(confirmation('delete', ['m'], two, { m: [] }).warning).toBeNull();
		expect(confirmation('pull', ['m'], two, { m: ['gpu-1'] }).loaded).toEqual([]);
	});
});

function outcome(over: Partial<NodeOutcome>): NodeOutcome {
	return { node: 'a', phase: 'Running', ...over };
}

function task(over: Partial<OllamaTask> = {}): OllamaTask {
	return {
		metadata: { name: 'pull-llama3-2-abcde', creationTimestamp: '2026-12-03T20:00:00Z' },
		spec: { action: 'pull', models: [{ name: 'llama3.2:latest' }], nodes: ['a', 'b', 'c'] },
		status: { phase: 'Running', selected: 3 },
		...over
	};
}

describe('progress', () => {
	it("sums a node's bytes over its models; its phase is the worst of them", () => {
		const rows = nodeProgress([
			outcome({ node: 'a', model: 'm1', completedBytes: 1 * GB, totalBytes: 2 * GB }),
			outcome({ node: 'a', model: 'm2', completedBytes: 0, totalBytes: 2 * GB, phase: 'Pending' }),
			outcome({
				node: 'b',
				model: 'm1',
				phase: 'Failed',
				reason: 'DiskFull',
				message: 'needs 2 GB, 1 GB free'
			}),
			outcome({ node: 'b', model: 'm2', phase: 'Succeeded', completedBytes: 9, totalBytes: 5 }),
			outcome({ node: 'c', phase: 'Succeeded' })
		]);
		expect(rows).toEqual([
			{
				node: 'a',
				phase: 'Running',
				completedBytes: 1 * GB,
				totalBytes: 4 * GB,
				percent: 25,
				models: ['m1', 'm2'],
				reason: null,
				message: ''
			},
			{
				node: 'b',
				phase: 'Failed',
				completedBytes: 5, // never more than the total
				totalBytes: 5,
				percent: 100,
				models: ['m1', 'm2'],
				reason: 'DiskFull',
				message: 'needs 2 GB, 1 GB free'
			},
			{
				node: 'c',
				phase: 'Succeeded',
				completedBytes: 0,
				totalBytes: 0,
				percent: 100,
				models: [],
				reason: null,
				message: ''
			}
		]);
		expect(totalBytes(rows)).toEqual({ completed: 1 * GB + 5, total: 4 * GB + 5 });
	});

	it('a done node is at 100 % even when its last byte count lagged', () => {
		const [row] = nodeProgress([
			outcome({ phase: 'Succeeded', completedBytes: 10, totalBytes: 20 })
		]);
		expect(row.percent).toBe(100);
		const [running] = nodeProgress([outcome({ phase: 'Running' })]);
		expect(running.percent).toBeNull();
	});

	it('lists named nodes the status does not list yet as pending (cancelled when cancelled)', () => {
		const t = task({
			status: {
				phase: 'Running',
				nodes: [outcome({ node: 'b', completedBytes: 1, totalBytes: 4 })]
			}
		});
		expect(taskProgress(t).map((r) => [r.node, r.phase, r.percent])).toEqual([
			['b', 'Running', 25],
			['a', 'Pending', null],
			['c', 'Pending', null]
		]);
		const cancelled = task({ status: { phase: 'Cancelled' } });
		expect(taskProgress(cancelled).map((r) => r.phase)).toEqual([
			'Cancelled',
			'Cancelled',
			'Cancelled'
		]);
		expect(
			taskProgress(
				task({ status: undefined, spec: { action: 'pull', models: [], nodeSelector: {} } })
			)
		).toEqual([]);
	});

	it('knows finished phases', () => {
		expect(taskFinished('Succeeded')).toBe(true);
		expect(taskFinished('Failed')).toBe(true);
		expect(taskFinished('Cancelled')).toBe(true);
		expect(taskFinished('Running')).toBe(false);
		expect(taskFinished(undefined)).toBe(false);
	});

	it('describes a target briefly', () => {
		expect(describeTarget(task().spec)).toBe('a, b and c');
		expect(
			describeTarget({ action: 'pull', models: [], nodeSelector: { matchLabels: { z: '1' } } })
		).toBe('selector z=1');
		expect(describeTarget({ action: 'pull', models: [], nodeSelector: {} })).toBe('every node');
	});
});

describe('activity', () => {
	const base = { sourceKind: 'OllamaTask', source: 't', action: 'pull', model: 'm' } as const;

	it('puts running steps first and finished ones newest first', () => {
		const { running, finished } = splitActivity([
			{ ...base, model: 'old', phase: 'Succeeded', finishedAt: '2026-12-03T19:00:00Z' },
			{ ...base, model: 'now', phase: 'Running' },
			{ ...base, model: 'new', phase: 'Failed', finishedAt: '2026-12-03T20:00:00Z' },
			{ ...base, model: 'next', phase: 'Pending' }
		]);
		expect(running.map((s) => s.model)).toEqual(['now', 'next']);
		expect(finished.map((s) => s.model)).toEqual(['new', 'old']);
		expect(splitActivity(null)).toEqual({ running: [], finished: [] });
	});

	it("a step's percentage comes from its bytes", () => {
		expect(stepPercent({ phase: 'Running', completedBytes: 1, totalBytes: 3 })).toBe(33);
		expect(stepPercent({ phase: 'Running', completedBytes: 5, totalBytes: 3 })).toBe(100);
		expect(stepPercent({ phase: 'Running' })).toBeNull();
		expect(stepPercent({ phase: 'Succeeded' })).toBe(100);
	});
});

describe('model set form', () => {
	it('becomes the wire form, pinned digests included', () => {
		const digest = 'a'.repeat(64);
		expect(
			modelSetFromForm({
				name: 'chat',
				models: `llama3.2, qwen2.5:7b@${digest}\nllama3.2`,
				selector: 'zone=z1',
				keepLoaded: true,
				maxConcurrentPulls: '25%',
				prune: false
			})
		).toEqual({
			metadata: { name: 'chat' },
			spec: {
				models: [{ name: 'llama3.2' }, { name: 'qwen2.5:7b', digest }],
				nodeSelector: { matchLabels: { zone: 'z1' } },
				keepLoaded: true,
				maxConcurrentPulls: '25%',
				prune: false
			}
		});
		expect(
			modelSetFromForm({ ...EMPTY_MODEL_SET_FORM, name: 'x', models: 'm', maxConcurrentPulls: '' })
				.spec.maxConcurrentPulls
		).toBe(1);
	});

	it('names the field that is wrong', () => {
		const ok = { ...EMPTY_MODEL_SET_FORM, name: 'chat', models: 'm' };
		expect(() => modelSetFromForm({ ...ok, name: 'Chat Models' })).toThrow(/^Name:/);
		expect(() => modelSetFromForm({ ...ok, models: ' , ' })).toThrow(/^Models:/);
		expect(() => modelSetFromForm({ ...ok, maxConcurrentPulls: '0' })).toThrow(/^Pulls at once:/);
		expect(() => modelSetFromForm({ ...ok, maxConcurrentPulls: '150%' })).toThrow(
			/^Pulls at once:/
		);
		expect(() => modelSetFromForm({ ...ok, selector: 'a b' })).toThrow(/^Node selector:/);
	});

	it('round-trips through the form', () => {
		const set: OllamaModelSet = {
			metadata: { name: 'chat' },
			spec: {
				models: [{ name: 'llama3.2:latest' }, { name: 'qwen2.5:7b', digest: 'b'.repeat(64) }],
				nodeSelector: { matchExpressions: [{ key: 'gpu', operator: 'Exists' }] },
				keepLoaded: true,
				maxConcurrentPulls: 2,
				prune: true
			}
		};
		const form = formFromModelSet(set);
		expect(form).toEqual({
			name: 'chat',
			models: `llama3.2:latest, qwen2.5:7b@${'b'.repeat(64)}`,
			selector: 'gpu',
			keepLoaded: true,
			maxConcurrentPulls: '2',
			prune: true
		});
		expect(modelSetFromForm(form)).toEqual({ metadata: set.metadata, spec: set.spec });
	});
});

describe('reasonText', () => {
	it('joins a reason and a message, leaving out what is empty', () => {
		expect(reasonText('DiskFull', 'needs 4 GB')).toBe('DiskFull: needs 4 GB');
		expect(reasonText(null, 'waiting for a pull slot')).toBe('waiting for a pull slot');
		expect(reasonText('Busy', '')).toBe('Busy');
		expect(reasonText(undefined, undefined)).toBe('');
	});
});
