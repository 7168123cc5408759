// The focus ritual in two browsers (docs/RITUAL.md): Ada starts a 50-minute
// pomodoro session from the form; Bob joins her room. Only Ada has the
// timer's buttons. She starts it and both rooms count down the same time;
// she pauses it and Bob's room shows it paused. A one-minute block that
// runs out with Bob in the room shows on his History: today's minute, a
// one-day streak and today's square of the year's heatmap.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiAs, launch, see, seeText, shot, signedUp, unique, until } from '../lib.mjs';

let browser;
let ada;
let bob;
let sessionId;

before(async () => {
  browser = await launch();
  [ada, bob] = await signedUp(browser, 'Ada', 'Bob');
});

after(async () => {
  await browser?.close();
});

/** The remaining milliseconds a room shows, or null before a running or paused timer. */
const remaining = (page) =>
  page.locator('#timer-clock').evaluate((clock) => (clock.dataset.remainingMs ? Number(clock.dataset.remainingMs) : null));

const stateIs = (page, state) =>
  until(page, (wanted) => document.getElementById('timer')?.dataset.state === wanted, state);

test('Ada shapes a session in the form and lands in its room', async () => {
  const { page } = ada;
  await page.goto('/');
  await page.getByRole('link', { name: 'Start Lock In Session' }).click();
  const dialog = page.getByRole('dialog', { name: 'Start a Lock In session' });
  await see(dialog);
  await dialog.getByLabel('Title').fill(`Pomodoro ${unique()}`);
  await dialog.getByLabel('Planned length').selectOption('custom');
  await dialog.getByLabel('Minutes (1 to 180)').fill('600');
  await dialog.getByRole('button', { name: 'Start session' }).click();
  // The browser's own check refuses it first; the API would too.
  assert.equal(await dialog.getByLabel('Minutes (1 to 180)').evaluate((input) => input.validity.valid), false);
  await dialog.getByLabel('Planned length').selectOption('50');
  await dialog.getByLabel('Rhythm').selectOption('pomodoro');
  await see(dialog.getByLabel('Work (min)'));
  await dialog.getByRole('button', { name: 'Start session' }).click();
  await page.waitForURL(/\/sessions\/[0-9a-f-]{36}$/);
  sessionId = page.url().split('/').pop();
  await seeText(page.locator('[data-shape]'), '50 min · Pomodoro 25/5, 15 min break every 4');
  const session = (await apiAs(page, 'GET', `/api/sessions/${sessionId}`)).body;
  assert.equal(session.planned_minutes, 50);
  assert.equal(session.rhythm.kind, 'pomodoro');
  await see(page.getByRole('button', { name: 'Start timer' }));
  // Before a start, the buttons for a running timer are not shown.
  for (const name of ['Pause', 'Resume', 'Skip block', '+5 min']) {
    assert.equal(await page.getByRole('button', { name, exact: true }).isVisible(), false, `${name} shows before a start`);
  }
});

test('Bob joins and has no buttons for the timer', async () => {
  const joined = await apiAs(bob.page, 'POST', `/api/sessions/${sessionId}/join`);
  assert.equal(joined.status, 200);
  await bob.page.goto(`/sessions/${sessionId}`);
  await stateIs(bob.page, 'not_started');
  await see(bob.page.getByRole('button', { name: /chime/ }));
  assert.equal(await bob.page.locator('[data-timer-action]').count(), 0);
});

test('Ada starts the timer and both rooms count down the same time', async () => {
  await ada.page.getByRole('button', { name: 'Start timer' }).click();
  await stateIs(ada.page, 'running');
  await stateIs(bob.page, 'running');
  for (const page of [ada.page, bob.page]) {
    await seeText(page.locator('#timer-label'), 'Work · block 1 of 3');
    await until(page, () => Number(document.getElementById('timer-clock').dataset.remainingMs) > 0);
  }
  const [mine, his] = await Promise.all([remaining(ada.page), remaining(bob.page)]);
  assert.ok(mine > 24 * 60_000 && mine <= 25 * 60_000, `Ada's room shows ${mine} ms`);
  assert.ok(Math.abs(mine - his) <= 1000, `Ada's room shows ${mine} ms, Bob's ${his} ms`);
  await shot(bob.page, 'room-timer-running');
});

test('Ada pauses it and Bob sees it paused', async () => {
  await ada.page.getByRole('button', { name: 'Pause' }).click();
  await stateIs(bob.page, 'paused');
  await seeText(bob.page.locator('#timer-label'), 'Paused · Work · block 1 of 3');
  await see(ada.page.getByRole('button', { name: 'Resume' }));
  const [mine, his] = await Promise.all([remaining(ada.page), remaining(bob.page)]);
  assert.equal(mine, his, 'a paused timer shows what the server kept');
  // The guest's own try is refused by the server too.
  const refused = await apiAs(bob.page, 'POST', `/api/sessions/${sessionId}/timer`, { action: 'resume' });
  assert.equal(refused.status, 403);
  await shot(bob.page, 'room-timer-paused');
});

test('without a shape, the host names an ad-hoc timer\'s minutes', async () => {
  const { page } = ada;
  const created = await apiAs(page, 'POST', '/api/sessions', {
    title: `Ad hoc ${unique()}`, session_type: 'study', max_participants: 4, ai_agent_enabled: false,
  });
  assert.equal(created.status, 201);
  assert.equal(created.body.planned_minutes, null);
  await page.goto(`/sessions/${created.body.id}`);
  await page.getByLabel('Minutes').fill('10');
  await page.getByRole('button', { name: 'Start timer' }).click();
  await stateIs(page, 'running');
  await seeText(page.locator('#timer-label'), 'Work · block 1 of 1');
  const left = await remaining(page);
  assert.ok(left > 9 * 60_000 && left <= 10 * 60_000, `the room shows ${left} ms`);
});

test('a block that runs out counts on History: minutes, streak and heatmap', async () => {
  const created = await apiAs(ada.page, 'POST', '/api/sessions', {
    title: `One minute ${unique()}`, session_type: 'general', max_participants: 4, ai_agent_enabled: false,
  });
  assert.equal(created.status, 201);
  const id = created.body.id;
  assert.equal((await apiAs(bob.page, 'POST', `/api/sessions/${id}/join`)).status, 200);
  await bob.page.goto(`/sessions/${id}`);
  await ada.page.goto(`/sessions/${id}`);
  await ada.page.getByLabel('Minutes').fill('1');
  await ada.page.getByRole('button', { name: 'Start timer' }).click();
  await stateIs(bob.page, 'running');
  // The block runs out by itself: the server's sweep finishes it.
  await bob.page.waitForFunction(() => document.getElementById('timer')?.dataset.state === 'finished', null, { timeout: 90_000 });
  await bob.page.goto('/history');
  const focus = bob.page.getByRole('region', { name: 'Your focus' });
  await see(focus);
  await seeText(focus.locator('#focus-today'), '1 min');
  await seeText(focus.locator('#focus-streak'), '1 day');
  await seeText(focus.locator('#focus-year'), '1 min · 1 block');
  const squares = focus.locator('#focus-heatmap rect');
  // A square a day: 52 whole weeks, then this week up to today.
  const daysThisWeek = await bob.page.evaluate(() => ((new Date().getDay() + 6) % 7) + 1);
  assert.equal(await squares.count(), 52 * 7 + daysThisWeek);
  const today = squares.last();
  assert.match(await today.locator('title').textContent(), /: 1 min, 1 block$/);
  assert.equal(await today.getAttribute('class'), 'heat-1');
  // The page counts the reader's days: its offset is the browser's.
  const offset = await bob.page.evaluate(() => 0 - new Date().getTimezoneOffset());
  assert.equal(Number(await focus.getAttribute('data-utc-offset')), offset);
  await shot(bob.page, 'history-focus');
});
