/**
 * The one error path: every failed API call becomes an ApiError carrying the server's own
 * message (FastAPI's `detail`, a string or a list of validation errors), which ErrorAlert shows.
 */
export class ApiError extends Error {
	readonly status: number;

	constructor(status: number, message: string) {
		super(message);
		this.name = 'ApiError';
		this.status = status;
	}
}

type ValidationItem = { loc?: (string | number)[]; msg?: string };

/** The message a person should read, taken from an error body the API sent. */
export function messageFromBody(status: number, body: unknown, statusText = ''): string {
	if (body && typeof body === 'object' && 'detail' in body) {
		const detail = (body as { detail: unknown }).detail;
		if (typeof detail === 'string' && detail) return detail;
		if (Array.isArray(detail) && detail.length) {
			return (detail as ValidationItem[])
				.map((d) => {
					const where = (d.loc ?? []).filter((p) => p !== 'query' && p !== 'body').join('.');
					return where ? `${where}: ${d.msg ?? 'invalid'}` : (d.msg ?? 'invalid');
				})
				.join('; ');
		}
	}
	if (typeof body === 'string' && body.trim()) return body.trim().slice(0, 300);
	return `HTTP ${status}${statusText ? ` ${statusText}` : ''}`;
}

/** Turn whatever a call threw (ApiError, fetch TypeError, anything) into a sentence. */
export function describeError(err: unknown): string {
	if (err instanceof ApiError) return err.message;
	if (err instanceof TypeError) return `The OBT API could not be reached (${err.message}).`;
	if (err instanceof Error) return err.message;
	return String(err);
}
