// Runs the browser suite against a real `lockin serve`: a fresh data dir, a
// free port chosen by the server itself (its "serving" log line says which),
// then the specs with node's test runner, one file at a time: every spec
// under specs/, or the spec files named.
//
//   node run.mjs [path/to/lockin [spec.test.mjs…]]   (default: ../../target/debug/lockin)

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const binary = resolve(process.argv[2] || join(here, '../../target/debug/lockin'));
const specs = process.argv.length > 3 ? process.argv.slice(3).map((spec) => resolve(spec)) : [join(here, 'specs')];
const dataDir = mkdtempSync(join(tmpdir(), 'lockin-browser-'));

// Media on loopback, on a free port: the browsers run on this machine.
// The assistant is left out: these specs are about the pages and media, and
// the assistant's own tests drive it (crates/server/tests/agent_worker).
const { server, address: serving } = serve(binary, { args: ['--no-agent', '--data-dir', dataDir], stdout: 'inherit' });

function stopServer() {
  if (server.exitCode === null) server.kill('SIGTERM');
}
process.on('exit', () => {
  stopServer();
  rmSync(dataDir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(130));
}

const address = await serving;
console.log(`lockin serving at http://${address} (data in ${dataDir})`);

const tests = spawn(
  process.execPath,
  ['--test', '--test-concurrency=1', '--test-reporter=spec', ...specs],
  { env: { ...process.env, LOCKIN_URL: `http://${address}`, LOCKIN_BINARY: binary }, stdio: 'inherit', cwd: here },
);
const code = await new Promise((done) => tests.on('exit', (exitCode) => done(exitCode ?? 1)));
stopServer();
process.exit(code);
