import {
	ApiError,
	createSession,
	deleteSession,
	describeError,
	getMe,
	setUnauthorizedHandler,
	type PrincipalOut,
	type Role
} from '$lib/api';

export interface SessionApi {
	getMe: typeof getMe;
	createSession: typeof createSession;
	deleteSession: typeof deleteSession;
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** A return path that stays on this site: a path starting with one slash, else "/". */
export function safeReturnPath(next: string | null | undefined): string {
	if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
	return next;
}

/** The sign-in page's URL that brings the person back to `here` afterwards. */
export function signInUrl(here: string): string {
	const back = safeReturnPath(here);
	return back === '/' || back.startsWith('/signin')
		? '/signin'
		: `/signin?next=${encodeURIComponent(back)}`;
}

function currentPath(): string {
	return typeof location === 'undefined' ? '/' : location.pathname + location.search;
}

/**
 * Who is signed in (GET /api/v1/auth/me) for the whole app: the header shows the name and role,
 * pages hide what the role cannot do (`can`), and a read answered 401 sends the person to
 * /signin with a return path, unless anonymous read is on. Sign-in and sign-out reload the app
 * (`navigate`) so every page and the live connection start again with the new credential.
 */
export class SessionStore {
	principal = $state<PrincipalOut | null>(null);
	anonymousRead = $state(false);
	loaded = $state(false);
	error = $state<string | null>(null);

	private readonly api: SessionApi;
	private readonly navigate: (url: string) => void;
	private loading: Promise<void> | null = null;
	private redirected = false;

	constructor(
		api: SessionApi = { getMe, createSession, deleteSession },
		navigate: (url: string) => void = (url) => location.assign(url)
	) {
		this.api = api;
		this.navigate = navigate;
	}

	get role(): Role | null {
		return (
			(this.principal?.role as Role | null | undefined) ?? (this.anonymousRead ? 'viewer' : null)
		);
	}

	/** The caller's role allows what `needed` may do (the API still checks). */
	can(needed: Role): boolean {
		const role = this.role;
		return role !== null && RANK[role] >= RANK[needed];
	}

	/** Load who is signed in and take over 401s; the function returned lets go of them. */
	start(): () => void {
		void this.load();
		setUnauthorizedHandler(() => void this.unauthorized());
		return () => setUnauthorizedHandler(null);
	}

	load(): Promise<void> {
		this.loading = (async () => {
			try {
				const me = await this.api.getMe();
				this.principal = me.principal ?? null;
				this.anonymousRead = me.anonymousRead;
				this.error = null;
			} catch (err) {
				this.principal = null;
				this.error = describeError(err);
				if (err instanceof ApiError && err.status === 401) this.toSignIn();
			} finally {
				this.loaded = true;
			}
		})();
		return this.loading;
	}

	/** A read was answered 401: to /signin once we know anonymous read is off. */
	async unauthorized(): Promise<void> {
		if (this.loading) await this.loading;
		if (!this.anonymousRead || this.principal !== null) this.toSignIn();
	}

	private toSignIn(): void {
		const here = currentPath();
		if (this.redirected || here.startsWith('/signin')) return;
		this.redirected = true;
		this.navigate(signInUrl(here));
	}

	/** Sign in with a token; on success go to `next`. Throws the API's error (shown by the page). */
	async signIn(token: string, next: string | null): Promise<void> {
		const created = await this.api.createSession(token.trim());
		this.principal = created.principal;
		this.navigate(safeReturnPath(next));
	}

	async signOut(): Promise<void> {
		try {
			await this.api.deleteSession();
		} finally {
			this.principal = null;
			this.navigate('/signin');
		}
	}
}

export const session = new SessionStore();
