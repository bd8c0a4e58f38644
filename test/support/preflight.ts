// Run by `npm test` before anything else: stops with one line when a program the tests start is not installed,
// instead of a run that fails (or, worse, skips) dozens of tests for one missing package.
import { missingTools, missingToolsMessage } from './tools.ts';

const missing = missingTools();
if (missing.length > 0) {
  console.error(`npm test: ${missingToolsMessage(missing)}`);
  process.exit(1);
}
