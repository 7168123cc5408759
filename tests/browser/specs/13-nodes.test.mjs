// Media across nodes, in real Chromium (docs/MEDIA.md, "One media home per
// session"): two `lockin serve` nodes of their own on one fresh PostgreSQL
// database and one NATS bus. Node A runs no assistant; node B runs one.
//
// - Ada's live socket is on node A, Bob's and Cyd's on node B. Ada joins the
//   session's media first, so its home is node A; Bob's and Cyd's media
//   messages are relayed there. Each receives the others' audio and video.
// - Dee, on node A, opens a session of her own (its home node A) and switches
//   the assistant on: node B's agent joins its media through node B, which
//   relays to node A, and answers Dee's spoken "hey agent, start a ten minute
//   timer" (her microphone plays it over and over, from before the agent
//   came): the timer runs.
// - Node A is killed (SIGKILL): Bob and Cyd, whose sockets are on node B,
//   get media back from each other without a reload, their session now at
//   home on node B. How long that took is printed.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ANSWER_WAIT, ASSISTANT_ENV, closeAll, roomAnswer, speech, untilAgentInMedia } from '../assistant.mjs';
import { BINARY, apiAs, launchWithMedia, person, see, serve, shot, signUp, unique, writeTone } from '../lib.mjs';
import { MEDIA_WAIT, receives, userId } from '../media.mjs';

const POSTGRES = process.env.LOCKIN_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const NATS = process.env.LOCKIN_TEST_NATS_URL || 'nats://127.0.0.1:4222';

const work = mkdtempSync(join(tmpdir(), 'lockin-nodes-'));
const database = `lockin_nodes_${unique()}`;
const browsers = [];
const nodes = {};
const people = {};
let pairing;

/** Starts a node on the shared database and bus; resolves to its base URL. */
async function startNode(name, { args = [], env = {} } = {}) {
  const url = new URL(POSTGRES);
  url.pathname = `/${database}`;
  const started = serve(BINARY, {
    args: ['--data-dir', join(work, name), ...args],
    env: {
      ...env,
      LOCKIN_DATABASE_URL: url.toString(),
      LOCKIN_BUS_URL: NATS,
      // Its own subjects, apart from any other spec or test on the bus.
      LOCKIN_BUS_SUBJECT: database,
    },
    label: `node ${name}`,
  });
  nodes[name] = { server: started.server, base: `http://${await started.address}` };
  return nodes[name].base;
}

/** A person in a Chromium process of their own, signed up on `node`, whose microphone plays `wav`. */
async function personOn(node, name, wav, options) {
  const browser = await launchWithMedia(wav, options);
  browsers.push(browser);
  const who = await signUp(await person(browser, name, { baseURL: nodes[node].base }));
  who.id = await userId(who);
  return who;
}

/** Opens `who`'s room and waits until their page has joined the session's media (and so pinned its home). */
async function openRoom(who, sessionId) {
  await who.page.goto(`/sessions/${sessionId}`);
  await see(who.page.getByRole('button', { name: 'Microphone', pressed: true }));
  await who.page.waitForFunction(async () => (await window.lockinMedia.stats()).joined, null, {
    timeout: MEDIA_WAIT,
    polling: 100,
  });
}

before(async () => {
  execFileSync('psql', [POSTGRES, '-qc', `CREATE DATABASE ${database}`]);
  await startNode('a', { args: ['--no-agent'] });
  await startNode('b', { env: ASSISTANT_ENV });
  const tone = (name, frequency) => writeTone(join(work, `${name}.wav`), { frequency, seconds: 300 });
  people.ada = await personOn('a', 'Ada', tone('ada', 440));
  people.bob = await personOn('b', 'Bob', tone('bob', 660));
  people.cyd = await personOn('b', 'Cyd', tone('cyd', 880));
  const command = speech('dee', 'hey agent, start a ten minute timer', { before: 2, after: 20 });
  people.dee = await personOn('a', 'Dee', command, { loop: true });
});

after(async () => {
  await Promise.all(browsers.map((browser) => browser.close()));
  for (const { server } of Object.values(nodes)) {
    if (server.exitCode === null && server.signalCode === null) {
      server.kill('SIGTERM');
      await new Promise((done) => server.once('exit', done));
    }
  }
  await closeAll();
  execFileSync('psql', [POSTGRES, '-qc', `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`]);
  rmSync(work, { recursive: true, force: true });
});

test('people whose sockets are on different nodes see and hear each other', async () => {
  const { ada, bob, cyd } = people;
  const created = await apiAs(ada.page, 'POST', '/api/sessions', {
    title: `Across nodes ${unique()}`,
    session_type: 'coding',
    max_participants: 4,
    ai_agent_enabled: false,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  pairing = created.body.id;
  for (const who of [bob, cyd]) {
    const joined = await apiAs(who.page, 'POST', `/api/sessions/${pairing}/join`);
    assert.equal(joined.status, 200, JSON.stringify(joined.body));
  }
  // Ada's media comes first: the session's media home is her node, A.
  for (const who of [ada, bob, cyd]) {
    await openRoom(who, pairing);
    const camera = who.page.getByRole('button', { name: 'Camera', pressed: false });
    await camera.click();
    await see(who.page.getByRole('button', { name: 'Camera', pressed: true }));
  }
  for (const [who, others] of [[ada, [bob, cyd]], [bob, [ada, cyd]], [cyd, [ada, bob]]]) {
    await receives(who, others, ['video', 'audio']);
  }
  await shot(bob.page, 'nodes-room');
});

test('the assistant on the other node answers a spoken question', async () => {
  const { dee } = people;
  const created = await apiAs(dee.page, 'POST', '/api/sessions', {
    title: `Assistant across nodes ${unique()}`,
    session_type: 'coding',
    max_participants: 4,
    ai_agent_enabled: false,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const sessionId = created.body.id;
  // Dee's media comes first: the home is node A, which runs no assistant.
  await openRoom(dee, sessionId);
  await dee.page.getByRole('tab', { name: /Assistant/ }).click();
  await dee.page.getByRole('switch', { name: 'AI assistant' }).check();
  // Node B's agent is in the room's media once Dee's page is sent its line.
  await untilAgentInMedia(dee);
  const log = await roomAnswer(dee, sessionId);
  assert.equal(log.error, null, JSON.stringify(log));
  await dee.page.waitForFunction(() => document.getElementById('timer')?.dataset.state === 'running', null, {
    timeout: ANSWER_WAIT,
  });
  assert.match(log.question, /timer/i, JSON.stringify(log));
  assert.match(log.answer, /Started/, JSON.stringify(log));
});

test('when the home node dies, the people on the other node get media back without a reload', async () => {
  const { bob, cyd } = people;
  // Marks on the pages that a reload would wipe.
  for (const who of [bob, cyd]) {
    await who.page.evaluate(() => {
      window.lockinSamePage = true;
    });
  }
  // The lines each page is sent now: a page that joins media again is sent
  // the same people on new lines.
  const mids = (who) => who.page.evaluate(() => window.lockinMedia.tracks().map((track) => track.mid));
  const before = { bob: await mids(bob), cyd: await mids(cyd) };
  const killed = Date.now();
  nodes.a.server.kill('SIGKILL');
  await new Promise((done) => nodes.a.server.once('exit', done));
  // Each page hears its media moved, joins again (the session's home moves
  // to node B) and is sent the other on a new line; then the other's audio
  // and video flow again.
  for (const [who, of, old] of [[bob, cyd, before.bob], [cyd, bob, before.cyd]]) {
    await who.page.waitForFunction(
      ({ id, lines }) => window.lockinMedia.tracks().some((track) => track.user_id === id && !lines.includes(track.mid)),
      { id: of.id, lines: old },
      { timeout: MEDIA_WAIT, polling: 100 },
    );
  }
  await receives(bob, [cyd], ['video', 'audio']);
  await receives(cyd, [bob], ['video', 'audio']);
  const back = Date.now() - killed;
  console.log(`media back for both people on node B ${back} ms after node A was killed`);
  for (const who of [bob, cyd]) {
    assert.equal(await who.page.evaluate(() => window.lockinSamePage), true, `${who.name}'s page was reloaded`);
  }
  await shot(bob.page, 'nodes-after-failover');
});
