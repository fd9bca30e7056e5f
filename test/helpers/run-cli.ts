/**
 * Runs Sonde's real CLI main() with the built-in components plus the test receiver (`testgen`), so
 * end-to-end tests can drive `sonde run` as a child process: `node dist/test/helpers/run-cli.js run --config F`.
 */
import { main } from '../../src/cli.js';
import { componentsWithTestReceiver } from './components.js';

process.exitCode = await main(process.argv.slice(2), undefined, componentsWithTestReceiver());
