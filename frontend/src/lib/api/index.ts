import * as sdk from './generated';
import { client } from './generated/client.gen';
import type { AuditQuery, ModelQuery, NodeQuery } from './types';
import { unwrap } from './unwrap';

export * from './types';
export * from './actions';
export * from './benchmarks';
export { ApiError, describeError } from './client';

// Same origin: the API serves the dashboard, and `pnpm run dev` proxies /api to it.
client.setConfig({ baseUrl: typeof location === 'undefined' ? '' : location.origin });

/** The cookie the API sets at sign-in whose value state-changing requests send back. */
export const CSRF_COOKIE = 'obt_csrf';
export const CSRF_HEADER = 'X-CSRF-Token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A cookie's value from a `document.cookie` string, or null. */
export function readCookie(cookies: string, name: string): string | null {
	for (const part of cookies.split(';')) {
		const [key, ...rest] = part.trim().split('=');
		if (key === name) return decodeURIComponent(rest.join('='));
	}
	return null;
}

/** Every state-changing call carries the session's CSRF token (the API refuses it without). */
export function withCsrf(request: Request, cookies: string): Request {
	if (SAFE_METHODS.has(request.method.toUpperCase())) return request;
	const token = readCookie(cookies, CSRF_COOKIE);
	if (token) request.headers.set(CSRF_HEADER, token);
	return request;
}

// document.cookie only for the requests that need it: reading it is a synchronous round trip to
// the browser process, and a GET (every list, re-sort and page change) never carries the token.
client.interceptors.request.use((request) =>
	SAFE_METHODS.has(request.method.toUpperCase())
		? request
		: withCsrf(request, typeof document === 'undefined' ? '' : document.cookie)
);

type UnauthorizedHandler = (status: number) => void;
let onUnauthorized: UnauthorizedHandler | null = null;

/** Called when a read is answered 401 (the session store sends the person to /signin). */
export function setUnauthorizedHandler(handler: UnauthorizedHandler | null): void {
	onUnauthorized = handler;
}

client.interceptors.response.use((response, request) => {
	if (response.status === 401 && SAFE_METHODS.has(request.method.toUpperCase())) {
		onUnauthorized?.(response.status);
	}
	return response;
});

/** Drop empty strings and empty lists so the URL carries only the filters in use. */
function clean<T extends object>(query: T): T {
	const out: Record<string, unknown> = {};
	for (const [key, value] of Object.entries(query)) {
		if (value == null) continue;
		if (typeof value === 'string' && !value.trim()) continue;
		if (Array.isArray(value) && !value.length) continue;
		out[key] = typeof value === 'string' ? value.trim() : value;
	}
	return out as T;
}

export function listNodes(query: NodeQuery = {}, signal?: AbortSignal) {
	return unwrap(sdk.listNodes({ query: clean(query), signal }));
}

export function getNode(name: string, signal?: AbortSignal) {
	return unwrap(sdk.getNode({ path: { name }, signal }));
}

export function listRemovedNodes(limit = 50, signal?: AbortSignal) {
	return unwrap(sdk.listRemovedNodes({ query: { limit }, signal }));
}

export function getFleetSummary(signal?: AbortSignal) {
	return unwrap(sdk.getFleetSummary({ signal }));
}

export function listModels(query: ModelQuery = {}, signal?: AbortSignal) {
	return unwrap(sdk.listModels({ query: clean(query), signal }));
}

export function getModel(name: string, signal?: AbortSignal) {
	return unwrap(sdk.getModel({ path: { name }, signal }));
}

export function getMe(signal?: AbortSignal) {
	return unwrap(sdk.getMe({ signal }));
}

export function createSession(token: string) {
	return unwrap(sdk.createSession({ body: { token } }));
}

export async function deleteSession() {
	await unwrap(sdk.deleteSession());
}

export function listAuditEntries(query: AuditQuery = {}, signal?: AbortSignal) {
	return unwrap(sdk.listAuditEntries({ query: clean(query), signal }));
}

export async function decommissionNode(name: string) {
	await unwrap(sdk.decommissionNode({ path: { name } }));
}
