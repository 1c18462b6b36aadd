import { formatBytes, percent, relativeTime } from './format';

describe('formatBytes', () => {
	it('uses binary units and trims trailing zeros', () => {
		expect(formatBytes(80 * 1024 ** 3)).toBe('80 GiB');
		expect(formatBytes(1.5 * 1024 ** 3)).toBe('1.5 GiB');
		expect(formatBytes(512)).toBe('512 B');
		expect(formatBytes(5.5 * 1024 ** 4)).toBe('5.5 TiB');
	});
	it('shows a dash for unknown sizes', () => {
		expect(formatBytes(null)).toBe('—');
		expect(formatBytes(undefined)).toBe('—');
	});
});

describe('percent', () => {
	it('rounds and clamps, and is 0 for an empty total', () => {
		expect(percent(1, 3)).toBe(33);
		expect(percent(42, 24)).toBe(100);
		expect(percent(5, 0)).toBe(0);
	});
});

describe('relativeTime', () => {
	const now = Date.parse('2026-01-01T12:00:00Z');
	it('says how long ago in the largest sensible unit', () => {
		expect(relativeTime('2026-01-01T12:00:02Z', now)).toBe('just now');
		expect(relativeTime('2026-01-01T11:59:30Z', now)).toBe('30s ago');
		expect(relativeTime('2026-01-01T11:55:00Z', now)).toBe('5 min ago');
		expect(relativeTime('2026-01-01T09:00:00Z', now)).toBe('3 h ago');
		expect(relativeTime('2025-12-25T12:00:00Z', now)).toBe('7 d ago');
	});
	it('shows a dash when there is no time', () => {
		expect(relativeTime(null, now)).toBe('—');
		expect(relativeTime('not a date', now)).toBe('—');
	});
});

describe('formatDateTime and localToIso', () => {
	it('writes a moment in local time, and reads a datetime-local value back', async () => {
		const { formatDateTime, localToIso } = await import('./format');
		const iso = localToIso('2026-12-03T10:05');
		expect(iso).toMatch(/Z$/);
		expect(formatDateTime(iso)).toBe('2026-12-03 10:05:00');
		expect(formatDateTime(null)).toBe('–');
		expect(formatDateTime('nonsense')).toBe('–');
		expect(localToIso('')).toBeUndefined();
		expect(localToIso('not a date')).toBeUndefined();
	});
});
