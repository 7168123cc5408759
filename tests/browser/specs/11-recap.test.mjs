// The recap (docs/RITUAL.md, "The recap"), in two browsers: Ada and Bob set
// goals in a planned session, Bob shares a link in the chat, Ada ends it
// and lands on the recap; Bob's room says it ended and leads him to the
// same recap — the time against the plan, both goals, the link, and the
// assistant's summary not written yet (this server runs no assistant). Bob
// checks out and rates an answer on the recap with its forms, and finds it
// again in History.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiAs, launch, see, seeText, shot, signedUp, unique } from '../lib.mjs';

let browser;
let ada;
let bob;
let sessionId;
const title = `Recap ${unique()}`;
const link = 'https://doc.rust-lang.org/book/ch04-01-what-is-ownership.html';

before(async () => {
  browser = await launch();
  [ada, bob] = await signedUp(browser, 'Ada', 'Bob');
  const created = await apiAs(ada.page, 'POST', '/api/sessions', {
    title, session_type: 'coding', max_participants: 4, ai_agent_enabled: true, planned_minutes: 25,
  });
  assert.equal(created.status, 201);
  sessionId = created.body.id;
  assert.equal((await apiAs(bob.page, 'POST', `/api/sessions/${sessionId}/join`)).status, 200);
});

after(async () => {
  await browser?.close();
});

/** The recap's sections on `page`. */
const section = (page, name) => page.getByRole('region', { name });

async function seeTheRecap(page) {
  await seeText(section(page, 'Time').locator('#recap-planned'), '25 min');
  await see(section(page, 'Time').locator('#recap-actual'));
  const people = section(page, 'Who was there');
  await seeText(people.locator('.person', { hasText: 'Ada' }), 'Ship the parser errors');
  await seeText(people.locator('.person', { hasText: 'Bob' }), 'Read chapter 4 of the Rust book');
  const shared = section(page, 'Links').getByRole('link', { name: link });
  await see(shared);
  assert.equal(await shared.getAttribute('href'), link);
  await seeText(section(page, 'Links'), 'Bob');
  await seeText(section(page, 'Summary'), 'The assistant has not written its summary yet.');
}

test('both state their goals in the room and Bob shares a link', async () => {
  for (const [who, goal] of [[ada, 'Ship the parser errors'], [bob, 'Read chapter 4 of the Rust book']]) {
    await who.page.goto(`/sessions/${sessionId}`);
    const panel = who.page.getByRole('region', { name: 'Your goal' });
    await panel.getByLabel('What will you do in this session?').fill(goal);
    await panel.getByRole('button', { name: 'Set goal' }).click();
    await seeText(panel.locator('#goal-text'), goal);
  }
  await bob.page.getByRole('tab', { name: /Chat/ }).click();
  const message = bob.page.getByRole('textbox', { name: 'Message' });
  await message.fill(`Reading ${link}, then the exercises.`);
  await message.press('Enter');
  await ada.page.getByRole('tab', { name: /Chat/ }).click();
  await see(ada.page.locator('#chat-log').getByText(/Reading https:/));
  // A question logged by hand, to rate on the recap.
  const logged = await apiAs(ada.page, 'POST', `/api/sessions/${sessionId}/ai-logs`, {
    question: 'What is ownership?', answer: 'Each value has one owner.',
  });
  assert.equal(logged.status, 201);
});

test('Ada ends the session and lands on the recap', async () => {
  const { page } = ada;
  await page.getByRole('button', { name: 'End session' }).click();
  const confirm = page.getByRole('dialog', { name: 'End this session for everyone?' });
  await confirm.getByRole('button', { name: 'End session' }).click();
  await see(page.getByText(/This session has ended after/));
  await seeTheRecap(page);
  await seeText(section(page, 'Your goal'), 'Ship the parser errors');
  await shot(page, 'recap');
});

test('Bob\'s room says it ended and leads him to the same recap, where he checks out and rates an answer', async () => {
  const { page } = bob;
  const ended = page.getByRole('alert').filter({ hasText: 'This session has ended' });
  await see(ended);
  await ended.getByRole('link', { name: 'See the recap' }).click();
  await seeTheRecap(page);
  const yours = section(page, 'Your goal');
  await seeText(yours, 'Read chapter 4 of the Rust book');
  // Not checked out yet: the recap asks how it went.
  const form = yours.getByRole('group', { name: 'How did it go?' });
  await form.getByLabel('Done').check();
  await yours.getByLabel('A note (optional)').fill('Chapter 4 read, exercises next time');
  await yours.getByRole('button', { name: 'Check out' }).click();
  await see(page.getByText('Thanks: your check-out is saved.'));
  await seeText(section(page, 'Your goal'), 'Checked out: Done — Chapter 4 read, exercises next time');
  assert.equal(await section(page, 'Your goal').getByRole('button', { name: 'Check out' }).count(), 0);
  const seat = (await apiAs(page, 'GET', `/api/sessions/${sessionId}/participants`)).body.find((p) => p.name === 'Bob');
  assert.equal(seat.check_out.outcome, 'done');
  await shot(page, 'recap-checked-out');

  // His rating of the answer, with a form that needs no script.
  const exchange = section(page, 'AI assistant').locator('.exchange', { hasText: 'What is ownership?' });
  await exchange.getByRole('button', { name: 'Helpful', exact: true }).click();
  await see(page.getByText('Thanks: your rating is saved.'));
  const rated = section(page, 'AI assistant').locator('.exchange', { hasText: 'What is ownership?' });
  await see(rated.getByRole('button', { name: 'Helpful', exact: true, pressed: true }));
  await seeText(rated.locator('.exchange-meta'), '1 helpful');
});

test('the recap is reachable from History', async () => {
  const { page } = bob;
  await page.getByRole('link', { name: 'History' }).click();
  const row = page.getByRole('row', { name: new RegExp(title) });
  await row.getByRole('link', { name: `Recap of ${title}` }).click();
  await seeTheRecap(page);
  await seeText(section(page, 'Your goal'), 'Checked out: Done');
});
