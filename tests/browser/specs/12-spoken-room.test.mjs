// A room command spoken to the assistant, end to end in real Chromium
// (docs/RITUAL.md, "The assistant and the room"): Dee's fake microphone
// says "hey agent, start a ten minute timer" in her session, which Eve
// watches from her own browser. The assistant answers it from the room's
// own data (its log names 'room' as the language model, never the model)
// and the timer runs in both rooms, the minutes it heard, the same for
// both. Dee's microphone plays from the moment her room opens: it starts
// after the agent's own media is up (Eve's page is sent its line), with 3 s
// of silence for Dee's connection to come up and reach the agent, and says
// it again every 25 s until the agent answers.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ANSWER_WAIT, closeAll, openRooms, personWithMic, roomAnswer, roomWithAssistant, speech, startServer, untilAgentInMedia,
  untilListening,
} from '../assistant.mjs';
import { apiAs, shot } from '../lib.mjs';

let dee;
let eve;
let sessionId;

const timerState = (page) => page.evaluate(() => document.getElementById('timer')?.dataset.state);

before(async () => {
  await startServer();
  // The microphone starts playing when Dee's room opens, before her media
  // is connected and forwarded to the agent: the lead silence covers that.
  // She says it again every 25 s until it is heard, as a person would: the
  // first time can reach the agent cut or garbled.
  const command = speech('dee', 'hey agent, start a ten minute timer', { before: 3, after: 20 });
  dee = await personWithMic('Dee', command, { loop: true });
  // Eve only watches: her microphone is silent.
  eve = await personWithMic('Eve', speech('eve', [1]));
  sessionId = await roomWithAssistant(dee);
  const joined = await apiAs(eve.page, 'POST', `/api/sessions/${sessionId}/join`);
  assert.equal(joined.status, 200, JSON.stringify(joined.body));
  await untilListening([[dee, sessionId]]);
  // Eve's room is open, its timer not started, before Dee's microphone plays.
  await openRooms([[eve, sessionId]]);
  assert.equal(await timerState(eve.page), 'not_started');
  // The agent's media is up (the server announces its line to Eve only once
  // its connection is), so it hears Dee from her first word.
  await untilAgentInMedia(eve);
  await openRooms([[dee, sessionId]]);
});

after(closeAll);

test('a spoken room command starts the timer for everyone in the room', async () => {
  // Answered from the room's own data, not by the language model.
  const log = await roomAnswer(dee, sessionId);
  assert.equal(log.error, null, JSON.stringify(log));
  assert.match(log.question, /timer/i, JSON.stringify(log));
  const started = log.answer.match(/Started a (\d+) minute timer/);
  assert.ok(started, JSON.stringify(log));
  // The minutes as heard (Whisper's tiny model in flite's voice does not
  // always hear "ten": the spoken evaluation measures that); the timer runs
  // them, the same in both rooms.
  const minutes = Number(started[1]);
  for (const page of [dee.page, eve.page]) {
    await page.waitForFunction(() => document.getElementById('timer')?.dataset.state === 'running', null, { timeout: ANSWER_WAIT });
  }
  const left = await eve.page.locator('#timer-clock').evaluate((clock) => Number(clock.dataset.remainingMs));
  assert.ok(left > (minutes - 2) * 60_000 && left <= minutes * 60_000, `Eve's room shows ${left} ms of a ${minutes}-minute timer`);
  const timer = (await apiAs(eve.page, 'GET', `/api/sessions/${sessionId}/timer`)).body.timer;
  assert.equal(timer.minutes, minutes, JSON.stringify(timer));
  await shot(eve.page, 'room-spoken-timer');
});
