// Runs the browser suite against a real `lockin serve`: a fresh data dir, a
// free port chosen by the server itself (its "serving" log line says which),
// then every spec under specs/ with node's test runner, one file at a time.
//
//   node run.mjs [path/to/lockin]        (default: ../../target/debug/lockin)

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const binary = resolve(process.argv[2] || join(here, '../../target/debug/lockin'));
const dataDir = mkdtempSync(join(tmpdir(), 'lockin-browser-'));

// Media on loopback, on a free port: the browsers run on this machine.
// The assistant is left out: these specs are about the pages and media, and
// the assistant's own tests drive it (crates/server/tests/agent_worker).
const server = spawn(binary, ['serve', '--listen', '127.0.0.1:0', '--rtc-udp', '127.0.0.1:0', '--no-agent', '--data-dir', dataDir], {
  env: { ...process.env, LOCKIN_LOG_FORMAT: 'json', RUST_LOG: process.env.RUST_LOG || 'info' },
  stdio: ['ignore', 'inherit', 'pipe'],
});

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

/** Resolves to the server's address once it logs "serving"; its other log lines go to stderr. */
const address = await new Promise((resolveAddress, reject) => {
  const lines = createInterface({ input: server.stderr });
  let found = false;
  lines.on('line', (line) => {
    if (!found) {
      try {
        const entry = JSON.parse(line);
        if (entry.fields && entry.fields.message === 'serving') {
          found = true;
          resolveAddress(entry.fields.address);
          return;
        }
      } catch {
        // Not a JSON log line: show it as it is.
      }
    }
    if (process.env.LOCKIN_SERVER_LOGS || !found) process.stderr.write(`[server] ${line}\n`);
  });
  server.on('exit', (code) => {
    if (!found) reject(new Error(`lockin serve exited with ${code} before serving`));
  });
});

console.log(`lockin serving at http://${address} (data in ${dataDir})`);

const tests = spawn(
  process.execPath,
  ['--test', '--test-concurrency=1', '--test-reporter=spec', join(here, 'specs')],
  { env: { ...process.env, LOCKIN_URL: `http://${address}` }, stdio: 'inherit', cwd: here },
);
const code = await new Promise((done) => tests.on('exit', (exitCode) => done(exitCode ?? 1)));
stopServer();
process.exit(code);
