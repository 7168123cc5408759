// The host's controls in real Chromium (docs/RITUAL.md, "Host controls"):
// Ada hosts, Bob and Cyd join, each in a Chromium process of their own with
// a fake camera and a microphone playing their own tone. Ada mutes Bob from
// the People tab: Bob's page shows his microphone off and why, the others
// see him muted; a reload of his page keeps him muted (the hold is the
// server's), and once he turns it on again himself they hear him again.
// Ada removes Cyd (confirmed in a dialog): Cyd's tile and media go for
// everyone, Cyd's page says the host removed them, and their join is
// refused. Bob reports Ada through the report dialog. Every wait polls the
// pages' state (window.lockinMedia.stats(), the DOM); nothing sleeps.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiAs, launchWithMedia, see, seeText, shot, signedUp, unique, writeTone } from '../lib.mjs';
import { AUDIO_ENERGY, MEDIA_WAIT } from '../media.mjs';


const sounds = mkdtempSync(join(tmpdir(), 'lockin-host-'));
const browsers = [];
const people = {};
let sessionId;

/**
 * Waits until `who`'s page hears `other`: their microphone's audio energy
 * above silence and rising between two looks.
 */
async function hears(who, other) {
  await who.page.waitForFunction(
    async ({ id, energy }) => {
      const stats = await window.lockinMedia.stats();
      const line = stats.received.find((entry) => entry.user_id === id && entry.source === 'microphone');
      if (!line) return false;
      const previous = window.lockinHeard?.[id] ?? Infinity;
      window.lockinHeard = { ...window.lockinHeard, [id]: line.totalAudioEnergy };
      return line.totalAudioEnergy > energy && line.totalAudioEnergy > previous;
    },
    { id: other.id, energy: AUDIO_ENERGY },
    { timeout: MEDIA_WAIT, polling: 500 },
  );
  await who.page.evaluate(() => {
    window.lockinHeard = {};
  });
}

/** Waits until `who`'s page receives nothing from `other` any more. */
async function receivesNothingFrom(who, other) {
  await who.page.waitForFunction(
    async (id) => {
      const stats = await window.lockinMedia.stats();
      return !stats.received.some((entry) => entry.user_id === id);
    },
    other.id,
    { timeout: MEDIA_WAIT, polling: 100 },
  );
}

const tile = (who, of) => who.page.locator(`#tiles [data-user-id="${of.id}"]`);

async function peopleTab(who) {
  await who.page.getByRole('tab', { name: /People/ }).click();
  return who.page.locator('#panel-people');
}

before(async () => {
  const tones = { Ada: 440, Bob: 660, Cyd: 880 };
  for (const [name, frequency] of Object.entries(tones)) {
    const wav = writeTone(join(sounds, `${name.toLowerCase()}.wav`), { frequency, seconds: 240 });
    const browser = await launchWithMedia(wav);
    browsers.push(browser);
    const [who] = await signedUp(browser, name);
    who.id = (await apiAs(who.page, 'GET', '/api/me')).body.id;
    people[name] = who;
  }
});

after(async () => {
  await Promise.all(browsers.map((browser) => browser.close()));
  rmSync(sounds, { recursive: true, force: true });
});

test('Ada hosts, Bob and Cyd join, and everyone hears everyone', async () => {
  const { Ada: ada, Bob: bob, Cyd: cyd } = people;
  const created = await apiAs(ada.page, 'POST', '/api/sessions', {
    title: `Host controls ${unique()}`,
    session_type: 'study',
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
    await see(who.page.getByRole('button', { name: 'Microphone', pressed: true }));
    await who.page.getByRole('button', { name: 'Camera', pressed: false }).click();
    await see(who.page.getByRole('button', { name: 'Camera', pressed: true }));
  }
  await hears(ada, bob);
  await hears(cyd, bob);
  await hears(ada, cyd);
  // Only the host has the host's buttons; everyone may report and block.
  const cydsPeople = await peopleTab(cyd);
  await see(cydsPeople.getByRole('button', { name: 'Report Bob' }));
  await see(cydsPeople.getByRole('button', { name: 'Block Ada' }));
  assert.equal(await cydsPeople.getByRole('button', { name: 'Mute Bob' }).count(), 0);
  assert.equal(await cydsPeople.getByRole('button', { name: 'Mute everyone' }).count(), 0);
});

test('Ada mutes Bob: his page and everyone else\'s show him muted, until he unmutes himself', async () => {
  const { Ada: ada, Bob: bob, Cyd: cyd } = people;
  const panel = await peopleTab(ada);
  await panel.getByRole('button', { name: 'Mute Bob' }).click();
  await seeText(panel.locator('#moderation-status'), 'You muted Bob.');
  await see(bob.page.getByRole('button', { name: 'Microphone', pressed: false }));
  await see(bob.page.locator('#media-problems').getByText('The host muted your microphone.'));
  for (const who of [ada, cyd, bob]) {
    await see(tile(who, bob).getByRole('img', { name: 'Microphone off' }));
  }
  await shot(bob.page, 'room-host-muted');
  // A reload does not undo it: his new page joins held, and says why.
  await bob.page.reload();
  await see(bob.page.locator('#media-problems').getByText('The host muted your microphone.'));
  await see(bob.page.getByRole('button', { name: 'Microphone', pressed: false }));
  for (const who of [ada, cyd]) {
    await see(tile(who, bob).getByRole('img', { name: 'Microphone off' }));
  }
  // His own choice brings him back, through the server's hold.
  await bob.page.getByRole('button', { name: 'Microphone' }).click();
  await see(bob.page.getByRole('button', { name: 'Microphone', pressed: true }));
  await tile(cyd, bob).getByRole('img', { name: 'Microphone off' }).waitFor({ state: 'hidden' });
  await hears(cyd, bob);
  await hears(ada, bob);
});

test('Ada removes Cyd: gone for everyone at once, told why, and kept out', async () => {
  const { Ada: ada, Bob: bob, Cyd: cyd } = people;
  const panel = await peopleTab(ada);
  await panel.getByRole('button', { name: 'Remove Cyd' }).click();
  const dialog = ada.page.getByRole('dialog', { name: 'Remove Cyd?' });
  await see(dialog);
  await shot(ada.page, 'room-remove-dialog');
  await dialog.getByRole('button', { name: 'Remove' }).click();
  await dialog.waitFor({ state: 'hidden' });
  await see(cyd.page.getByRole('heading', { name: 'The host removed you from this session' }));
  for (const who of [ada, bob]) {
    await tile(who, cyd).waitFor({ state: 'detached' });
    await receivesNothingFrom(who, cyd);
  }
  await shot(cyd.page, 'room-removed');
  const again = await apiAs(cyd.page, 'POST', `/api/sessions/${sessionId}/join`);
  assert.equal(again.status, 403);
  assert.equal(again.body.error.message, 'the host removed you from this session');
  // The two who stay still hear each other.
  await hears(ada, bob);
  await hears(bob, ada);
});

test('Bob reports Ada through the report dialog', async () => {
  const { Bob: bob } = people;
  const panel = await peopleTab(bob);
  await panel.getByRole('button', { name: 'Report Ada' }).click();
  const dialog = bob.page.getByRole('dialog', { name: 'Report Ada' });
  await see(dialog);
  await dialog.getByLabel('Reason').selectOption('disruptive');
  await dialog.getByLabel(/What happened/).fill('Kept muting me.');
  await dialog.getByRole('button', { name: 'Send report' }).click();
  await dialog.waitFor({ state: 'hidden' });
  await seeText(panel.locator('#moderation-status'), 'Your report about Ada was sent.');
});

test('the People tab with its controls fits a phone', async () => {
  const { Ada: ada } = people;
  await ada.page.setViewportSize({ width: 360, height: 740 });
  const panel = await peopleTab(ada);
  await see(panel.getByRole('button', { name: 'Lock room' }));
  const overflow = await ada.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px`);
  // Locking is keyboard-usable: focus the button and press Enter.
  await panel.getByRole('button', { name: 'Lock room' }).focus();
  await ada.page.keyboard.press('Enter');
  await see(panel.getByRole('button', { name: 'Unlock room', pressed: true }));
  const session = await apiAs(ada.page, 'GET', `/api/sessions/${sessionId}`);
  assert.equal(session.body.locked, true);
  await shot(ada.page, 'room-host-controls-phone');
});
