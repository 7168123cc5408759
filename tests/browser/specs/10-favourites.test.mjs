// Favourites in two browsers (docs/RITUAL.md, Favourites): Bob marks Ada as
// a favourite with the star in the room's People tab; Ada's session shows
// first on his home page, and when she schedules another it appears there
// at once, under "With your favourites" before the other lists, while his
// Reminders page tells him of it. After the session ended, he unmarks her
// with the form on its page, which works without the script.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiAs, launch, see, seeText, shot, signedUp, unique } from '../lib.mjs';

let browser;
let ada;
let bob;
let roomId;
const roomTitle = `Room ${unique()}`;
const planTitle = `Plan ${unique()}`;

before(async () => {
  browser = await launch();
  [ada, bob] = await signedUp(browser, 'Ada', 'Bob');
  for (const who of [ada, bob]) who.id = (await apiAs(who.page, 'GET', '/api/me')).body.id;
  const created = await apiAs(ada.page, 'POST', '/api/sessions', {
    title: roomTitle, session_type: 'coding', max_participants: 4, ai_agent_enabled: false,
  });
  assert.equal(created.status, 201);
  roomId = created.body.id;
  assert.equal((await apiAs(bob.page, 'POST', `/api/sessions/${roomId}/join`)).status, 200);
});

after(async () => {
  await browser?.close();
});

/** The home page's list sections, in the order they are shown. */
const sections = (page) => page.locator('.list-section');

test('Bob marks Ada as a favourite in the room\'s People tab', async () => {
  const { page } = bob;
  await page.goto(`/sessions/${roomId}`);
  await page.getByRole('tab', { name: /People/ }).click();
  const star = page.getByRole('button', { name: 'Favourite Ada' });
  await see(star);
  assert.equal(await star.getAttribute('aria-pressed'), 'false');
  // Nobody stars themselves.
  assert.equal(await page.getByRole('button', { name: 'Favourite Bob' }).count(), 0);
  await star.click();
  await see(page.getByRole('button', { name: 'Favourite Ada', pressed: true }));
  await seeText(page.locator('#moderation-status'), 'Ada is one of your favourites');
  const kept = await apiAs(page, 'GET', '/api/me/favourites');
  assert.deepEqual(kept.body.map((favourite) => favourite.user_id), [ada.id]);
  await shot(page, 'room-favourite');
});

test('Ada schedules a session and it shows first on Bob\'s home at once', async () => {
  const { page } = bob;
  await page.goto('/');
  const first = sections(page).first();
  await seeText(first.getByRole('heading', { level: 2 }), 'With your favourites');
  await see(first.getByRole('link', { name: roomTitle }));

  const startsAt = new Date(Date.now() + 2 * 60 * 60 * 1000).toISOString();
  const planned = await apiAs(ada.page, 'POST', '/api/sessions', {
    title: planTitle, session_type: 'study', max_participants: 4, ai_agent_enabled: false, scheduled_start: startsAt,
  });
  assert.equal(planned.status, 201);
  assert.equal(planned.body.status, 'scheduled');

  // No reload: the upcoming list's change brings the favourites' list again.
  await see(first.getByRole('link', { name: planTitle }));
  const titles = await first.locator('.session-title').allTextContents();
  assert.deepEqual(titles.map((title) => title.trim()), [roomTitle, planTitle], 'running first, then planned');
  // Below, in "Upcoming", the same session is marked as one with a favourite.
  const upcoming = page.locator('[data-list="upcoming"]');
  const card = upcoming.locator('.session-card', { hasText: planTitle });
  await seeText(card.locator('.badge-favourite'), 'With a favourite');
  await shot(page, 'home-favourites');
});

test('Bob\'s Reminders page tells him Ada scheduled it', async () => {
  const { page } = bob;
  await page.goto('/reminders');
  const notice = page.getByRole('link', { name: new RegExp(`^Ada scheduled “${planTitle}” for `) });
  await see(notice);
  const planned = (await apiAs(page, 'GET', '/api/sessions?status=scheduled&with=favourites')).body.sessions;
  const plan = planned.find((session) => session.title === planTitle);
  assert.ok(plan, 'the plan is among the sessions with favourites');
  assert.equal(await notice.getAttribute('href'), `/sessions/${plan.id}`);
  // Ada is not told of her own session.
  const hers = (await apiAs(ada.page, 'GET', '/api/me/notifications')).body;
  assert.equal(hers.filter((notification) => notification.kind === 'favourite_scheduled').length, 0);
});

test('after the session, Bob unmarks Ada on its page without the script', async () => {
  assert.equal((await apiAs(ada.page, 'POST', `/api/sessions/${roomId}/end`)).status, 200);
  const context = await browser.newContext({ javaScriptEnabled: false, storageState: await bob.context.storageState(), baseURL: new URL(bob.page.url()).origin });
  try {
    const page = await context.newPage();
    await page.goto(`/sessions/${roomId}`);
    const people = page.getByRole('region', { name: 'Who was there' });
    const star = people.getByRole('button', { name: 'Favourite Ada', pressed: true });
    await see(star);
    await star.click();
    await see(page.getByRole('status').filter({ hasText: 'Removed from your favourites.' }));
    await see(page.getByRole('button', { name: 'Favourite Ada', pressed: false }));
  } finally {
    await context.close();
  }
  const kept = await apiAs(bob.page, 'GET', '/api/me/favourites');
  assert.deepEqual(kept.body, []);
  await bob.page.goto('/');
  await seeText(sections(bob.page).first(), 'None of your favourites has a session running or planned.');
});
