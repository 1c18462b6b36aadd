/**
 * The fleet page's first requests, started by an inline script in app.html while the browser
 * still loads the JavaScript (so the API's answer and the app's boot overlap instead of following
 * each other). The store takes them once, for the query they were made for; anything else asks
 * the API as usual.
 */
interface EarlyRequests {
	/** The page's query string the requests were made for (location.search without "?"). */
	key: string;
	list?: Promise<unknown>;
	summary?: Promise<unknown>;
}

declare global {
	interface Window {
		__obtEarly?: EarlyRequests;
	}
}

/**
 * The early list and summary requests when they were made for `key` (the query as URL
 * parameters); each is taken once. A request that failed rejects: the caller asks again,
 * through the client, to get the API's error message.
 */
export function takeEarly<S, L>(
	key: string
): { list?: Promise<L>; summary?: Promise<S> } | undefined {
	if (typeof window === 'undefined' || !window.__obtEarly) return undefined;
	const early = window.__obtEarly;
	delete window.__obtEarly;
	if (early.key !== key) return undefined;
	return { list: early.list as Promise<L>, summary: early.summary as Promise<S> };
}
