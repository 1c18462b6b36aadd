// Benchmarks (issue 16): benchmarks and their stored results in their wire form, through the
// generated client, so the CSRF header and the 401 handling are those of every other call.
import * as sdk from './generated';
import type { BenchmarkCreate, ListBenchmarkResultsData, ListBenchmarksData } from './generated';
import { unwrap } from './unwrap';

export type {
	BenchmarkNode,
	BenchmarkPage,
	BenchmarkResult,
	BestMachine,
	CompareCell,
	CompareMatrix,
	CompareRow,
	History,
	HistoryPoint,
	OllamaBenchmark,
	OllamaBenchmarkSpec,
	OllamaBenchmarkStatus,
	Regression,
	Stats
} from './generated';

export type NewBenchmark = BenchmarkCreate;
export type BenchmarkQuery = NonNullable<ListBenchmarksData['query']>;
export type BenchmarkResultQuery = NonNullable<ListBenchmarkResultsData['query']>;

export function listBenchmarks(query: BenchmarkQuery = {}, signal?: AbortSignal) {
	return unwrap(sdk.listBenchmarks({ query, signal }));
}

export function getBenchmark(name: string, signal?: AbortSignal) {
	return unwrap(sdk.getBenchmark({ path: { name }, signal }));
}

export function createBenchmark(benchmark: NewBenchmark) {
	return unwrap(sdk.createBenchmark({ body: benchmark }));
}

export function cancelBenchmark(name: string) {
	return unwrap(sdk.cancelBenchmark({ path: { name } }));
}

export async function deleteBenchmark(name: string): Promise<void> {
	await unwrap(sdk.deleteBenchmark({ path: { name } }));
}

export function compareBenchmarkResults(model?: string, signal?: AbortSignal) {
	return unwrap(sdk.compareBenchmarkResults({ query: model ? { model } : {}, signal }));
}

export function getBenchmarkHistory(node: string, model: string, signal?: AbortSignal) {
	return unwrap(sdk.getBenchmarkHistory({ query: { node, model }, signal }));
}
