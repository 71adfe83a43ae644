/**
 * Reading flag values for both `ftbroker` command lines (the broker, and `ftbroker push`): one set
 * of checks and messages, so the same mistake reads the same way in either.
 */

/** A bad command line: reported with the usage text and exit status 2. */
export class UsageError extends Error {}

export type UsageErrorResult = { kind: 'usage-error'; message: string };

/** Runs a command-line parser; a bad command line becomes a result instead of an exception. */
export function orUsageError<T>(parse: () => T): T | UsageErrorResult {
  try {
    return parse();
  } catch (err) {
    // parseArgs reports unknown flags and missing values with a TypeError whose message is already readable.
    if (err instanceof UsageError || err instanceof TypeError) return { kind: 'usage-error', message: err.message };
    throw err;
  }
}

export function required(flag: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

/** One of `choices`; undefined when the flag was not given. */
export function oneOf<T extends string>(flag: string, text: string | undefined, choices: readonly T[]): T | undefined {
  if (text === undefined) return undefined;
  if (!(choices as readonly string[]).includes(text)) throw new UsageError(`${flag} must be one of ${choices.join(', ')}, got ${JSON.stringify(text)}`);
  return text as T;
}

/** Reads a whole number flag in [min, max]; undefined when the flag was not given. */
export function integer(flag: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return value;
}

/** A fraction from 0 to 1; undefined when the flag was not given. */
export function rate(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = text.trim() === '' ? NaN : Number(text);
  if (!(value >= 0 && value <= 1)) throw new UsageError(`${flag} must be a number from 0 to 1, got ${JSON.stringify(text)}`);
  return value;
}

export function setIfDefined<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}
