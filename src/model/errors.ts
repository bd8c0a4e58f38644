// The one error base class of calpush. Every error calpush raises on purpose says what went wrong (message), a
// stable machine-readable code, and — where there is one — what the administrator should do about it (remedy).
// The command line prints message and remedy without a stack trace; anything that is not a CalpushError is a bug
// and is reported as such.

export interface CalpushErrorDetails {
  remedy?: string | undefined;
  cause?: unknown;
}

export class CalpushError extends Error {
  readonly code: string;
  /** What the administrator should do about it. */
  readonly remedy: string | undefined;

  constructor(code: string, message: string, details: CalpushErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    this.remedy = details.remedy;
  }
}
