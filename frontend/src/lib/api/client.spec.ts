import { ApiError, describeError, messageFromBody } from './client';

describe('messageFromBody', () => {
	it("returns the server's detail string", () => {
		expect(messageFromBody(404, { detail: "node 'x' not found" })).toBe("node 'x' not found");
	});
	it('joins validation errors naming the input', () => {
		const body = {
			detail: [
				{ loc: ['query', 'limit'], msg: 'Input should be less than or equal to 500' },
				{ loc: ['query', 'sort'], msg: "Input should be 'name'" }
			]
		};
		expect(messageFromBody(422, body)).toBe(
			"limit: Input should be less than or equal to 500; sort: Input should be 'name'"
		);
	});
	it('falls back to the status when the body says nothing', () => {
		expect(messageFromBody(502, null, 'Bad Gateway')).toBe('HTTP 502 Bad Gateway');
		expect(messageFromBody(500, 'upstream exploded')).toBe('upstream exploded');
	});
});

describe('describeError', () => {
	it('keeps API messages and explains network failures', () => {
		expect(describeError(new ApiError(403, 'no admin token'))).toBe('no admin token');
		expect(describeError(new TypeError('Failed to fetch'))).toBe(
			'The OBT API could not be reached (Failed to fetch).'
		);
	});
});
