import { ApiError, messageFromBody } from './client';

type SdkResult<T> = { data?: T; error?: unknown; response?: Response };

/** The generated calls resolve with {data, error}; turn an error into the one ApiError path. */
export async function unwrap<T>(call: Promise<SdkResult<T>>): Promise<T> {
	const { data, error, response } = await call;
	if (response && !response.ok) {
		throw new ApiError(
			response.status,
			messageFromBody(response.status, error, response.statusText)
		);
	}
	if (error !== undefined) throw new ApiError(response?.status ?? 0, messageFromBody(0, error));
	return data as T;
}
