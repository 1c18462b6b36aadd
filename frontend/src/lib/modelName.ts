/**
 * Model names as Ollama treats them, the same rules as obt.core.model_names (the API applies
 * those to every filter and path; this copy only makes the page show what the server matched):
 * `[host/][namespace/]model[:tag]` with the defaults registry.ollama.ai, library and latest,
 * written in the shortest form, as `ollama list` shows it.
 */
const DEFAULT_HOST = 'registry.ollama.ai';
const DEFAULT_NAMESPACE = 'library';

export function normalizeModelName(name: string): string {
	const text = name.trim();
	if (!text) return text;
	const at = text.indexOf('@');
	let base = at >= 0 ? text.slice(0, at) : text;
	const digest = at >= 0 ? text.slice(at) : '';
	let parts = base.split('/');
	if (parts.length === 3 && parts[0].toLowerCase() === DEFAULT_HOST) parts = parts.slice(1);
	if (parts.length === 2 && parts[0].toLowerCase() === DEFAULT_NAMESPACE) parts = parts.slice(1);
	base = parts.join('/');
	const last = parts[parts.length - 1];
	if (last && !last.includes(':')) base += ':latest';
	return base + digest;
}
