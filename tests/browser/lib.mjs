// What every spec shares: `lockin serve` started on free ports, Debian's
// Chromium, people with their own browser contexts, waiting for what a
// person would see (never sleeping), and a screenshot of every page under
// target/browser-screenshots/.

import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const BASE = process.env.LOCKIN_URL || 'http://127.0.0.1:8080';
const here = dirname(fileURLToPath(import.meta.url));
/** The `lockin` binary under test, for specs that start servers of their own (run.mjs names it). */
export const BINARY = resolve(process.env.LOCKIN_BINARY || join(here, '../../target/debug/lockin'));
export const SHOTS = join(here, '../../target/browser-screenshots');
mkdirSync(SHOTS, { recursive: true });

/** How long an expectation may take before the test fails. */
export const WAIT = 15000;

/**
 * Starts `binary serve` on free ports (HTTP and media on loopback) with
 * `args` and `env` added, logging JSON. Returns the child process and a
 * promise of the address its "serving" log line names. Its other log lines
 * go to stderr, marked `[label]`: all of them until it serves, and after
 * that only with LOCKIN_SERVER_LOGS set. `stdout` is the child's stdout.
 */
export function serve(binary, { args = [], env = {}, label = 'server', stdout = 'ignore' } = {}) {
  const server = spawn(binary, ['serve', '--listen', '127.0.0.1:0', '--rtc-udp', '127.0.0.1:0', ...args], {
    env: { ...process.env, LOCKIN_LOG_FORMAT: 'json', RUST_LOG: process.env.RUST_LOG || 'info', ...env },
    stdio: ['ignore', stdout, 'pipe'],
  });
  const address = new Promise((resolveAddress, reject) => {
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
      if (process.env.LOCKIN_SERVER_LOGS || !found) process.stderr.write(`[${label}] ${line}\n`);
    });
    server.on('exit', (code) => {
      if (!found) reject(new Error(`lockin serve exited with ${code} before serving`));
    });
  });
  return { server, address };
}

/** A Chromium process; `args` adds flags to the usual headless ones. */
export async function launch({ args = [] } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...args,
    ],
  });
}

/**
 * A Chromium process with a fake camera (a moving test pattern), a
 * microphone that plays `wav` (16-bit PCM; one file per process, which is why
 * each person with their own sound needs a process of their own) once, from
 * the page's getUserMedia on, or over and over with `loop`, a fake
 * screen to share, and permission prompts accepted. The SFU's candidates
 * are on loopback, which Chromium skips unless told otherwise.
 */
export async function launchWithMedia(wav, { loop = false } = {}) {
  return launch({
    args: [
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${wav}${loop ? '' : '%noloop'}`,
      '--auto-select-desktop-capture-source=Entire screen',
      '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

/** Writes a 16-bit mono PCM WAV file of a sine tone, for a fake microphone. */
export function writeTone(path, { frequency, seconds, sampleRate = 48000, amplitude = 0.4 }) {
  const samples = Math.round(seconds * sampleRate);
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i += 1) {
    data.writeInt16LE(Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * frequency * i) / sampleRate)), i * 2);
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28); // bytes per second
  header.writeUInt16LE(2, 32); // bytes per frame
  header.writeUInt16LE(16, 34); // bits per sample
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  writeFileSync(path, Buffer.concat([header, data]));
  return path;
}

let counter = 0;

/** A unique suffix, so specs never collide on emails or titles. */
export function unique() {
  counter += 1;
  return `${Date.now().toString(36)}${counter}${Math.random().toString(36).slice(2, 6)}`;
}

/** A person with their own browser context (their own cookies) on `baseURL`, at a window size. */
export async function person(browser, name, { width = 1280, height = 860, baseURL = BASE } = {}) {
  const context = await browser.newContext({ baseURL, viewport: { width, height } });
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  page.on('pageerror', (error) => {
    throw new Error(`${name}'s page threw: ${error.message}`);
  });
  return { name, email: `${name.toLowerCase()}-${unique()}@example.com`, password: 'correct horse battery', context, page };
}

/** Signs `who` up through the sign-up form; they land on home, signed in. */
export async function signUp(who) {
  const { page } = who;
  await page.goto('/signup');
  await page.getByLabel('Name').fill(who.name);
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('heading', { name: 'Sessions', level: 1 }).waitFor();
  return who;
}

/** Signs each of `names` up, in a context of their own in `browser`; resolves to them in order. */
export async function signedUp(browser, ...names) {
  const people = [];
  for (const name of names) people.push(await signUp(await person(browser, name)));
  return people;
}

/** Waits until `locator` is visible. */
export async function see(locator) {
  await locator.first().waitFor({ state: 'visible', timeout: WAIT });
  return locator;
}

/** Waits until `locator` is gone or hidden. */
export async function gone(locator) {
  await locator.first().waitFor({ state: 'hidden', timeout: WAIT });
}

/** Waits until `locator`'s text contains `text`. */
export async function seeText(locator, text) {
  await locator.filter({ hasText: text }).first().waitFor({ state: 'visible', timeout: WAIT });
}

/** Waits until the page holds `fn(...args)` true. */
export async function until(page, fn, arg) {
  await page.waitForFunction(fn, arg, { timeout: WAIT });
}

/** Saves a full-page screenshot as target/browser-screenshots/<name>.png. */
export async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Calls the JSON API as the person signed in on `page` (cookie and CSRF header, as the app does). */
export async function apiAs(page, method, path, body) {
  const cookies = await page.context().cookies();
  const csrf = cookies.find((cookie) => cookie.name === 'lockin_csrf')?.value || '';
  const response = await page.request.fetch(path, {
    method,
    headers: { 'x-csrf-token': csrf, ...(body ? { 'content-type': 'application/json' } : {}) },
    data: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status(), body: text ? JSON.parse(text) : null };
}

/** Creates a project through the form; resolves to its id, on its page. */
export async function createProject(who, name) {
  const { page } = who;
  await page.goto('/projects');
  await page.getByRole('link', { name: 'New project', exact: true }).click();
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Description').fill('A focus timer that plays rain sounds.');
  await page.getByLabel('Repository link').fill('https://github.com/example/focus-timer');
  await page.getByLabel('Tech stack').fill('rust, axum, sqlite');
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.getByRole('heading', { name, level: 1 }).waitFor();
  return page.url().split('/projects/')[1];
}
