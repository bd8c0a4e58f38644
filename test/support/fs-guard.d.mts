// Types of fs-guard.mjs (plain JavaScript, so that any Node a test starts can preload it with --import).
export declare const GUARD_CODE: 'ERR_READ_OUTSIDE_REPOSITORY';
export declare const repoRoot: string;
export declare function takeViolations(): string[];
export declare function installFsGuard(options?: { child?: boolean }): void;
