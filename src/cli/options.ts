// Parsers for numeric command-line options: a value out of range is commander's one-line usage error (exit 2),
// never a NaN that travels on or a stack trace.
import { InvalidArgumentError } from 'commander';

/** An integer option from `min` to `max` (inclusive). */
export function integerArgument(name: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

/** A number option (fractions allowed) from `min` to `max` (inclusive). */
export function numberArgument(name: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a number from ${min} to ${max}`);
    return n;
  };
}
