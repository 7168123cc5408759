// The voice assistant's rig for browser specs: a `lockin serve` of the
// spec's own with the assistant on, people in Chromium processes of their
// own whose fake microphones play flite-synthesised speech, and sessions
// with the assistant on. Each spec file runs in a process of its own, so
// this module's state is one spec's.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BINARY, apiAs, launchWithMedia, person, see, serve, signUp, unique } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');

/** The local model answers in ~5–15 s on a small machine; speech recognition and synthesis add to it. */
export const ANSWER_WAIT = 120000;
/** How long the agent may take to join a session and start listening. */
export const JOIN_WAIT = 60000;
/** Audio energy only sound reaches (see media.mjs): the agent's voice adds far more. */
export { AUDIO_ENERGY } from './media.mjs';

const work = mkdtempSync(join(tmpdir(), 'lockin-assistant-'));
const dataDir = join(work, 'data');
const browsers = [];
let server;
let base;

/** Reads a 16-bit mono PCM WAV: its sample rate and sample bytes. */
function readWav(path) {
  const bytes = readFileSync(path);
  let offset = 12;
  let sampleRate = 16000;
  while (offset + 8 <= bytes.length) {
    const id = bytes.toString('ascii', offset, offset + 4);
    const size = bytes.readUInt32LE(offset + 4);
    if (id === 'fmt ') sampleRate = bytes.readUInt32LE(offset + 12);
    if (id === 'data') return { sampleRate, data: bytes.subarray(offset + 8, offset + 8 + size) };
    offset += 8 + size + (size % 2);
  }
  throw new Error(`${path} has no data chunk`);
}

/**
 * Synthesises speech with flite into a WAV padded with silence: `before` s,
 * then each part (a string is spoken, a number is that many seconds of
 * silence: a thinking pause), then `after` s.
 */
export function speech(name, parts, { before: lead = 1, after: tail = 2 } = {}) {
  let sampleRate = 16000;
  const silence = (seconds) => Buffer.alloc(Math.round(seconds * sampleRate) * 2);
  const spoken = [];
  for (const [i, part] of [parts].flat().entries()) {
    if (typeof part === 'number') {
      spoken.push(silence(part));
      continue;
    }
    const raw = join(work, `${name}-raw-${i}.wav`);
    execFileSync('flite', ['-voice', 'slt', '-t', part, '-o', raw]);
    const wav = readWav(raw);
    sampleRate = wav.sampleRate;
    spoken.push(wav.data);
  }
  const body = Buffer.concat([silence(lead), ...spoken, silence(tail)]);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + body.length, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(body.length, 40);
  const path = join(work, `${name}.wav`);
  writeFileSync(path, Buffer.concat([header, body]));
  return path;
}

/**
 * The environment of a `lockin serve` with the assistant on. These tests
 * check that a spoken question is heard, answered, logged and spoken, not
 * how fast: on a busy two-core machine the local model's first token (behind
 * its evaluation of the session's prompt, which the first question right
 * after joining waits for) can take longer than the 15 s a room allows by
 * default. Likewise a transcription: with several rooms speaking at once it
 * can take longer than its 10 s, and a question whose words never came is
 * dropped unheard (nothing says it was meant for the agent).
 */
export const ASSISTANT_ENV = {
  LOCKIN_MODEL_DIR: join(repo, 'data/models'),
  LOCKIN_AGENT_FIRST_TOKEN_TIMEOUT: '60s',
  LOCKIN_AGENT_TRANSCRIPTION_TIMEOUT: '60s',
  LOCKIN_AGENT_ANSWER_TIMEOUT: '120s',
};

/** Starts `lockin serve` with the assistant; resolves to its base URL. */
export async function startServer() {
  const started = serve(BINARY, { args: ['--data-dir', dataDir], env: ASSISTANT_ENV, label: 'assistant server' });
  server = started.server;
  base = `http://${await started.address}`;
  return base;
}

/** A person in a Chromium process of their own whose microphone plays `wav` (`options`: launchWithMedia's), signed up on this spec's server. */
export async function personWithMic(name, wav, options) {
  const browser = await launchWithMedia(wav, options);
  browsers.push(browser);
  return signUp(await person(browser, name, { baseURL: base }));
}

/** Polls `fn` until it returns a truthy value, or fails after `timeout` ms (an expect.poll without playwright/test). */
export async function poll(fn, { timeout, interval = 500, message }) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`${message} (within ${timeout} ms)`);
    await new Promise((done) => setTimeout(done, interval));
  }
}

/** Creates a session with the assistant on, waits for the agent to listen, and opens the room. */
export async function roomWithAssistant(who) {
  const created = await apiAs(who.page, 'POST', '/api/sessions', {
    title: `Assistant ${unique()}`,
    session_type: 'coding',
    max_participants: 4,
    ai_agent_enabled: true,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id;
}


/** Waits until the agent listens in each of `rooms` ([who, session id] pairs). */
export async function untilListening(rooms) {
  for (const [who, sessionId] of rooms) {
    await poll(
      async () => {
        const session = await apiAs(who.page, 'GET', `/api/sessions/${sessionId}`);
        return session.body && session.body.agent_status === 'listening';
      },
      { timeout: JOIN_WAIT, message: `the agent never listened in session ${sessionId}` },
    );
  }
}

/**
 * Waits until the agent's media is up in `who`'s room: the server announces
 * the agent's line to the page only once its connection is. For a room
 * where the agent is the only other one in media.
 */
export async function untilAgentInMedia(who) {
  await who.page.waitForFunction(
    () => window.lockinMedia.tracks().some((track) => track.kind === 'audio'),
    null,
    { timeout: JOIN_WAIT, polling: 200 },
  );
}

/** Waits for a spoken question answered from the room's own data (its log names `room` as the language model); resolves to its log entry. */
export async function roomAnswer(who, sessionId) {
  return poll(
    async () => {
      const logs = await apiAs(who.page, 'GET', `/api/sessions/${sessionId}/ai-logs`);
      assert.equal(logs.status, 200);
      return logs.body.find((entry) => entry.trigger === 'voice' && entry.providers.llm === 'room');
    },
    { timeout: ANSWER_WAIT, message: 'the spoken room command was never answered from the room' },
  );
}

/** Opens each person's room ([who, session id] pairs) and waits for their microphone to be on. */
export async function openRooms(rooms) {
  await Promise.all(rooms.map(([who, sessionId]) => who.page.goto(`/sessions/${sessionId}`)));
  for (const [who] of rooms) {
    await see(who.page.getByRole('button', { name: 'Microphone', pressed: true }));
  }
}

/** Closes the browsers, stops the server and removes the spec's files. */
export async function closeAll() {
  await Promise.all(browsers.map((browser) => browser.close()));
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((done) => server.once('exit', done));
  }
  rmSync(work, { recursive: true, force: true });
}
