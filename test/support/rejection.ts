// The TargetError a target's call rejects with: the tests look at its scope, code and remedy. Anything else thrown
// (or no rejection at all) fails the test.
import { TargetError } from '../../src/targets/target.ts';

export async function rejection(promise: Promise<unknown>): Promise<TargetError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TargetError) return error;
    throw error;
  }
  throw new Error('expected a TargetError');
}
