// Waiting in tests for an event rather than for a time: poll a condition up to a deadline.

/**
 * Resolves as soon as `cond()` holds (checked at once, then every `everyMs`); rejects, naming
 * `what`, once `deadlineMs` passed without it. The deadline only bounds a failing test: a passing
 * one returns when the event happens.
 */
export async function waitFor(
  cond: () => boolean,
  deadlineMs: number,
  what: string | (() => string),
  everyMs = 5,
): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > end)
      throw new Error(
        `timed out after ${deadlineMs} ms waiting for ${typeof what === 'string' ? what : what()}`,
      );
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
