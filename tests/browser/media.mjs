// What the media specs share: waiting until a page receives someone's audio
// and video, read from its RTCPeerConnection's getStats() through the
// room's debug hook, window.lockinMedia.stats().

import assert from 'node:assert/strict';
import { apiAs } from './lib.mjs';

/** How long media may take to flow: three browsers encode and decode on a small machine. */
export const MEDIA_WAIT = 45000;
/**
 * Audio energy (the sum of squared levels times seconds) that only sound
 * reaches: the tones, after the microphone's noise suppression, add a few
 * hundredths a second; silence adds nothing.
 */
export const AUDIO_ENERGY = 0.01;

/** The id of the person signed in on `who`'s page. */
export async function userId(who) {
  const me = await apiAs(who.page, 'GET', '/api/me');
  assert.equal(me.status, 200);
  return me.body.id;
}

/**
 * Waits until `who`'s page receives, from each of `others`, what `wanted`
 * names, rising between two looks: `video` (frames decoded, a frame size),
 * `audio` (audio energy above silence), `screen` (a screen's frames).
 */
export async function receives(who, others, wanted) {
  const ids = others.map((other) => other.id);
  await who.page.waitForFunction(
    async ({ ids: from, wanted: kinds, energy }) => {
      const stats = await window.lockinMedia.stats();
      const previous = window.lockinTestPrevious || {};
      const now = {};
      let ok = true;
      for (const id of from) {
        for (const kind of kinds) {
          const source = { video: 'camera', audio: 'microphone', screen: 'screen' }[kind];
          const line = stats.received.find((entry) => entry.user_id === id && entry.source === source);
          const key = `${id}/${kind}`;
          if (!line) {
            ok = false;
            continue;
          }
          if (kind === 'audio') {
            now[key] = line.totalAudioEnergy;
            ok = ok && line.totalAudioEnergy > energy && line.totalAudioEnergy > (previous[key] ?? Infinity);
          } else {
            now[key] = line.framesDecoded;
            ok = ok && line.frameWidth > 0 && line.framesDecoded > (previous[key] ?? Infinity);
          }
        }
      }
      window.lockinTestPrevious = { ...previous, ...now };
      return ok;
    },
    { ids, wanted, energy: AUDIO_ENERGY },
    { timeout: MEDIA_WAIT, polling: 500 },
  );
  await who.page.evaluate(() => {
    window.lockinTestPrevious = {};
  });
}

/** Waits until `who`'s page receives nothing from `other` any more. */
export async function receivesNothingFrom(who, other, within) {
  await who.page.waitForFunction(
    async (id) => {
      const stats = await window.lockinMedia.stats();
      return !stats.received.some((entry) => entry.user_id === id);
    },
    other.id,
    { timeout: within, polling: 100 },
  );
}
