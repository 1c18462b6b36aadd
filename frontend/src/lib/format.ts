const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Bytes in binary units, e.g. 85899345920 -> "80 GiB". */
export function formatBytes(bytes: number | null | undefined, digits = 1): string {
	if (bytes == null || !Number.isFinite(bytes)) return '—';
	if (bytes < 1024) return `${bytes} B`;
	let value = bytes;
	let unit = 0;
	while (value >= 1024 && unit < UNITS.length - 1) {
		value /= 1024;
		unit += 1;
	}
	const rounded =
		value >= 100 || Number.isInteger(value) ? value.toFixed(0) : value.toFixed(digits);
	return `${rounded.replace(/\.0+$/, '')} ${UNITS[unit]}`;
}

/** Share of a total as a whole percentage clamped to 0..100 (0 when the total is 0). */
export function percent(part: number, total: number): number {
	if (!total || total <= 0) return 0;
	return Math.max(0, Math.min(100, Math.round((part / total) * 100)));
}

/** "12s ago", "5 min ago", "3 h ago", "2 d ago"; "—" when unknown. */
export function relativeTime(iso: string | null | undefined, now: number = Date.now()): string {
	if (!iso) return '—';
	const at = Date.parse(iso);
	if (Number.isNaN(at)) return '—';
	const seconds = Math.round((now - at) / 1000);
	if (seconds < 5) return 'just now';
	if (seconds < 60) return `${seconds}s ago`;
	const minutes = Math.floor(seconds / 60);
	if (minutes < 60) return `${minutes} min ago`;
	const hours = Math.floor(minutes / 60);
	if (hours < 48) return `${hours} h ago`;
	return `${Math.floor(hours / 24)} d ago`;
}

/** A moment as `YYYY-MM-DD HH:MM:SS` in the viewer's time zone ("–" when unknown). */
export function formatDateTime(iso: string | null | undefined): string {
	if (!iso) return '–';
	const at = new Date(iso);
	if (Number.isNaN(at.getTime())) return '–';
	const two = (n: number) => String(n).padStart(2, '0');
	return (
		`${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} ` +
		`${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}`
	);
}

/** `<input type="datetime-local">` (the person's local time) as ISO 8601 with a zone, or undefined. */
export function localToIso(value: string): string | undefined {
	if (!value) return undefined;
	const at = new Date(value);
	return Number.isNaN(at.getTime()) ? undefined : at.toISOString();
}
