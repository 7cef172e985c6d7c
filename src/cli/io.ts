/** What a command may touch of its process: passed in, so a test runs it without a child process. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Read by `--file -`. */
  stdin?: AsyncIterable<string | Buffer>;
  /** Aborted on SIGINT/SIGTERM: `audit tail -f` stops cleanly, a request in flight is abandoned. */
  signal?: AbortSignal;
}

/**
 * Exit codes, Vault's convention: 0 done; 1 the command line was wrong or the work failed here
 * (a key not written); 2 the server refused or could not be reached.
 */
export const EXIT = { ok: 0, usage: 1, server: 2 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the command reports as `error: <message>` on stderr, with its exit code. */
export class CliFailure extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = 'CliFailure';
  }
}

export const usageError = (message: string) => new CliFailure(EXIT.usage, message);
