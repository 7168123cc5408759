// Audio, video and screen share through the SFU, in real Chromium: three
// people, each in a Chromium process of their own (the fake microphone plays
// one file per process: a different tone for each), in one session. Each
// turns the camera on and receives the others' video (frames decoded and
// rising, a frame size) and audio (energy above silence); a screen share is
// seen large by the others; everyone who speaks is ringed, as the server
// hears it; a microphone switched off shows as off and loses its ring; one
// leaves and their tiles go for the others at once. Then someone with no
// camera or microphone at all is told why, and still sees and hears the
// others. What a page receives is read from its RTCPeerConnection's
// getStats() through the room's debug hook, window.lockinMedia.stats().

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiAs, launch, launchWithMedia, see, shot, signedUp, unique, writeTone } from '../lib.mjs';
import { MEDIA_WAIT, receives, receivesNothingFrom, userId } from '../media.mjs';

const sounds = mkdtempSync(join(tmpdir(), 'lockin-media-'));
const browsers = [];
const people = {};
let sessionId;

const tile = (who, of) => who.page.locator(`#tiles [data-user-id="${of.id}"]`);

before(async () => {
  const tones = { Ada: 440, Bob: 660, Cyd: 880 };
  for (const [name, frequency] of Object.entries(tones)) {
    // Long enough to last the whole spec: %noloop plays it once.
    const wav = writeTone(join(sounds, `${name.toLowerCase()}.wav`), { frequency, seconds: 240 });
    const browser = await launchWithMedia(wav);
    browsers.push(browser);
    const [who] = await signedUp(browser, name);
    who.id = await userId(who);
    people[name] = who;
  }
});

after(async () => {
  await Promise.all(browsers.map((browser) => browser.close()));
  rmSync(sounds, { recursive: true, force: true });
});

test('three people in one session turn their cameras on', async () => {
  const { Ada: ada, Bob: bob, Cyd: cyd } = people;
  const created = await apiAs(ada.page, 'POST', '/api/sessions', {
    title: `Pairing ${unique()}`,
    session_type: 'coding',
    max_participants: 4,
    ai_agent_enabled: false,
  });
  assert.equal(created.status, 201);
  sessionId = created.body.id;
  for (const who of [bob, cyd]) {
    assert.equal((await apiAs(who.page, 'POST', `/api/sessions/${sessionId}/join`)).status, 200);
  }
  for (const who of [ada, bob, cyd]) {
    await who.page.goto(`/sessions/${sessionId}`);
    // The microphone starts on, the camera off.
    await see(who.page.getByRole('button', { name: 'Microphone', pressed: true }));
    const camera = who.page.getByRole('button', { name: 'Camera', pressed: false });
    await see(camera);
    await camera.click();
    await see(who.page.getByRole('button', { name: 'Camera', pressed: true }));
  }
});

test('each receives the others\' video and audio', async () => {
  const { Ada: ada, Bob: bob, Cyd: cyd } = people;
  for (const [who, others] of [
    [ada, [bob, cyd]],
    [bob, [ada, cyd]],
    [cyd, [ada, bob]],
  ]) {
    await receives(who, others, ['video', 'audio']);
    for (const other of others) {
      await see(tile(who, other).locator('video:not([hidden])'));
    }
    // Their own camera shows in their own tile.
    await see(tile(who, who).locator('video:not([hidden])'));
  }
  await shot(ada.page, 'room-media');
});

test('a screen share is seen large by the others', async () => {
  const { Ada: ada, Bob: bob, Cyd: cyd } = people;
  await ada.page.getByRole('button', { name: 'Share screen' }).click();
  await see(ada.page.getByRole('button', { name: 'Share screen', pressed: true }));
  await see(ada.page.locator('#spotlight').getByText('You are sharing your screen.'));
  for (const who of [bob, cyd]) {
    const screen = who.page.getByRole('region', { name: 'Shared screens' }).locator(`[data-user-id="${ada.id}"]`);
    await see(screen);
    await see(screen.getByText('Ada\'s screen'));
    await receives(who, [ada], ['screen']);
  }
  await shot(bob.page, 'room-screen-share');
  // Stopping it takes it away again.
  await ada.page.locator('#spotlight').getByRole('button', { name: 'Stop sharing' }).click();
  await see(ada.page.getByRole('button', { name: 'Share screen', pressed: false }));
  for (const who of [bob, cyd]) {
    await who.page.locator('#spotlight').waitFor({ state: 'hidden', timeout: MEDIA_WAIT });
  }
});

// The ring around a speaker comes from the server (media.speakers), which
// reads the audio level on everyone's microphone packets.
const ringed = (who, of) => who.page.locator(`#tiles .tile-speaking[data-user-id="${of.id}"]`);

test('a microphone switched off shows as off to the others, and its ring goes', async () => {
  const { Ada: ada, Bob: bob, Cyd: cyd } = people;
  // Everyone's tone plays: each page rings all three, its own tile too.
  for (const who of [ada, bob, cyd]) {
    for (const of of [ada, bob, cyd]) {
      await ringed(who, of).waitFor({ timeout: MEDIA_WAIT });
    }
  }
  await bob.page.getByRole('button', { name: 'Microphone' }).click();
  await see(bob.page.getByRole('button', { name: 'Microphone', pressed: false }));
  for (const who of [ada, cyd, bob]) {
    await see(tile(who, bob).getByRole('img', { name: 'Microphone off' }));
    await ringed(who, bob).waitFor({ state: 'detached', timeout: MEDIA_WAIT });
    await see(ringed(who, ada));
  }
  await bob.page.getByRole('button', { name: 'Microphone' }).click();
  await see(bob.page.getByRole('button', { name: 'Microphone', pressed: true }));
  await tile(ada, bob).getByRole('img', { name: 'Microphone off' }).waitFor({ state: 'hidden' });
  await ringed(ada, bob).waitFor({ timeout: MEDIA_WAIT });
});

test('one leaves and their tiles go for the others at once', async () => {
  const { Ada: ada, Bob: bob, Cyd: cyd } = people;
  await cyd.page.getByRole('button', { name: 'Leave' }).click();
  await cyd.page.getByRole('button', { name: 'Leave without checking out' }).click();
  await see(cyd.page.getByText('You left this session.'));
  for (const who of [ada, bob]) {
    await tile(who, cyd).waitFor({ state: 'detached', timeout: 5000 });
    await receivesNothingFrom(who, cyd, 5000);
  }
  // The two who stay still see and hear each other.
  await receives(ada, [bob], ['video', 'audio']);
  await receives(bob, [ada], ['video', 'audio']);
});

test('someone without a camera or microphone is told why and still sees and hears the others', async () => {
  const { Ada: ada, Bob: bob } = people;
  // No fake devices: this Chromium has no camera or microphone at all.
  const browser = await launch({ args: ['--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required'] });
  browsers.push(browser);
  const [dee] = await signedUp(browser, 'Dee');
  dee.id = await userId(dee);
  assert.equal((await apiAs(dee.page, 'POST', `/api/sessions/${sessionId}/join`)).status, 200);
  await dee.page.goto(`/sessions/${sessionId}`);
  const problems = dee.page.locator('#media-problems');
  await see(problems.getByText(/microphone/i));
  await see(dee.page.getByRole('button', { name: 'Microphone', pressed: false }));
  await dee.page.getByRole('button', { name: 'Camera' }).click();
  await see(problems.getByText(/camera/i));
  await see(dee.page.getByRole('button', { name: 'Camera', pressed: false }));
  await shot(dee.page, 'room-media-device-problem');
  await receives(dee, [ada, bob], ['video', 'audio']);
  // The others see Dee as a name tile with the microphone off.
  await see(tile(ada, dee).getByRole('img', { name: 'Microphone off' }));
});

test('an ICE restart keeps media flowing', async () => {
  const { Ada: ada, Bob: bob } = people;
  // What the page does by itself when its connection drops: new ICE
  // credentials, agreed with the server over the live socket.
  assert.equal(await bob.page.evaluate(() => window.lockinMedia.restartIce()), true);
  await receives(bob, [ada], ['video', 'audio']);
  await receives(ada, [bob], ['video', 'audio']);
  const stats = await bob.page.evaluate(() => window.lockinMedia.stats());
  assert.equal(stats.connection, 'connected', JSON.stringify(stats));
});
