/**
 * Models picked on the Models page, kept for the browser tab (sessionStorage) so the choice
 * survives a visit to a node page: the starting point for benchmarks and model operations.
 */
export const SELECTION_KEY = 'obt-model-selection';

export class ModelSelection {
	names = $state<string[]>([]);
	private readonly storage: Storage | undefined;

	constructor(storage: Storage | undefined = globalThis.sessionStorage) {
		this.storage = storage;
		try {
			const saved = JSON.parse(storage?.getItem(SELECTION_KEY) ?? '[]');
			if (Array.isArray(saved)) this.names = saved.filter((n) => typeof n === 'string');
		} catch {
			this.names = [];
		}
	}

	has(name: string): boolean {
		return this.names.includes(name);
	}

	toggle(name: string): void {
		this.names = this.has(name) ? this.names.filter((n) => n !== name) : [...this.names, name];
		this.save();
	}

	clear(): void {
		this.names = [];
		this.save();
	}

	private save(): void {
		try {
			this.storage?.setItem(SELECTION_KEY, JSON.stringify(this.names));
		} catch {
			/* storage blocked: selection lasts for this page */
		}
	}
}

export const modelSelection = new ModelSelection();
