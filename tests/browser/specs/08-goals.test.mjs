// Goals and check-outs in two browsers (docs/RITUAL.md, Goals): Ada opens a
// session and states her goal with two tasks; Bob joins and sees it on her
// tile and in the People tab; his goal reaches Ada's room live, and so does
// each task she ticks. Ada leaves through the check-out ("partly", with a
// note), which Bob sees; the session ends and Bob checks out in his room.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiAs, launch, see, seeText, shot, signedUp, unique } from '../lib.mjs';

let browser;
let ada;
let bob;
let sessionId;

before(async () => {
  browser = await launch();
  [ada, bob] = await signedUp(browser, 'Ada', 'Bob');
  for (const who of [ada, bob]) who.id = (await apiAs(who.page, 'GET', '/api/me')).body.id;
  const created = await apiAs(ada.page, 'POST', '/api/sessions', {
    title: `Goals ${unique()}`, session_type: 'coding', max_participants: 4, ai_agent_enabled: false,
  });
  assert.equal(created.status, 201);
  sessionId = created.body.id;
});

after(async () => {
  await browser?.close();
});

/** The tile of `who` on `viewer`'s stage. */
const tile = (viewer, who) => viewer.page.locator(`.tile[data-user-id="${who.id}"]`);
/** The People tab's entry for `who` on `viewer`'s page. */
const personEntry = (viewer, who) => viewer.page.locator('#people .person', { hasText: who.name });

async function openPeople(viewer) {
  await viewer.page.getByRole('tab', { name: /People/ }).click();
}

test('Ada states her goal with two tasks on entering the room', async () => {
  const { page } = ada;
  await page.goto(`/sessions/${sessionId}`);
  const panel = page.getByRole('region', { name: 'Your goal' });
  await see(panel.getByLabel('What will you do in this session?'));
  // Nothing said yet: the room asks for it.
  await panel.getByRole('button', { name: 'Set goal' }).click();
  await seeText(panel.getByRole('alert'), 'Say what you will do first.');
  // Nothing to cancel or change before a first goal.
  assert.equal(await panel.getByRole('button', { name: 'Cancel' }).isVisible(), false);
  assert.equal(await panel.getByRole('button', { name: 'Change goal' }).isVisible(), false);
  await panel.getByLabel('What will you do in this session?').fill('Ship the parser errors');
  await panel.getByRole('button', { name: 'Add a task' }).click();
  await panel.getByRole('textbox', { name: 'Task 1', exact: true }).fill('Spans on every error');
  await panel.getByRole('button', { name: 'Add a task' }).click();
  await panel.getByRole('textbox', { name: 'Task 2', exact: true }).fill('Hints for the common ones');
  await panel.getByRole('button', { name: 'Set goal' }).click();
  await seeText(panel.locator('#goal-text'), 'Ship the parser errors');
  await see(panel.getByRole('checkbox', { name: 'Spans on every error', checked: false }));
  const seat = (await apiAs(page, 'GET', `/api/sessions/${sessionId}/participants`)).body.find((p) => p.user_id === ada.id);
  assert.deepEqual(seat.goal.tasks, [
    { text: 'Spans on every error', done: false },
    { text: 'Hints for the common ones', done: false },
  ]);
  await shot(page, 'room-goal-set');
});

test('Bob joins and sees her goal; his own reaches her room live', async () => {
  const joined = await apiAs(bob.page, 'POST', `/api/sessions/${sessionId}/join`);
  assert.equal(joined.status, 200);
  await bob.page.goto(`/sessions/${sessionId}`);
  await seeText(tile(bob, ada).locator('.tile-goal'), 'Ship the parser errors · 0 of 2 tasks done');
  await openPeople(bob);
  await seeText(personEntry(bob, ada), 'Ship the parser errors');

  const panel = bob.page.getByRole('region', { name: 'Your goal' });
  await panel.getByLabel('What will you do in this session?').fill('Read chapter 4 of the Rust book');
  await panel.getByRole('button', { name: 'Set goal' }).click();
  await seeText(panel.locator('#goal-text'), 'Read chapter 4 of the Rust book');
  // Ada's room shows it without a reload, on his tile and in People.
  await seeText(tile(ada, bob).locator('.tile-goal'), 'Read chapter 4 of the Rust book');
  await openPeople(ada);
  await seeText(personEntry(ada, bob), 'Read chapter 4 of the Rust book');
});

test('Ada ticks a task and Bob sees her progress', async () => {
  await ada.page.getByRole('checkbox', { name: 'Spans on every error' }).check();
  await seeText(tile(bob, ada).locator('.tile-goal'), '1 of 2 tasks done');
  await see(personEntry(bob, ada).getByRole('list', { name: /1 of 2 tasks done/ }));
  await shot(bob.page, 'room-goals-people');
});

test('Ada leaves through the check-out and Bob sees how it went', async () => {
  const { page } = ada;
  await page.getByRole('button', { name: 'Leave' }).click();
  const dialog = page.getByRole('dialog', { name: 'How did it go?' });
  await see(dialog);
  await seeText(dialog, 'Ship the parser errors');
  // Choosing nothing is refused in the dialog, which stays open.
  await dialog.getByRole('button', { name: 'Check out and leave' }).click();
  await seeText(dialog.getByRole('alert'), 'Choose how it went');
  await dialog.getByLabel('Partly').check();
  assert.equal(await dialog.getByRole('alert').isVisible(), false, 'the error goes once an outcome is chosen');
  await dialog.getByLabel(/A note for the room/).fill('Spans are done, hints next time');
  await shot(page, 'room-check-out');
  await dialog.getByRole('button', { name: 'Check out and leave' }).click();
  await see(page.getByText('You left this session.'));
  await seeText(personEntry(bob, ada), 'Checked out: Partly — Spans are done, hints next time');
});

test('the session ends and Bob checks out in his room', async () => {
  const { page } = bob;
  // Ada, the host, ends it (from anywhere: here, the API).
  const ended = await apiAs(ada.page, 'POST', `/api/sessions/${sessionId}/end`);
  assert.equal(ended.status, 200);
  const box = page.getByRole('alert').filter({ hasText: 'This session has ended' });
  await see(box);
  await box.getByRole('button', { name: 'Check out' }).click();
  const dialog = page.getByRole('dialog', { name: 'How did it go?' });
  await dialog.getByLabel('Done').check();
  await dialog.getByRole('button', { name: 'Check out' }).click();
  await seeText(page.locator('#goal-checkout-line'), 'Checked out: Done');
  await see(box.getByRole('button', { name: 'Change check-out' }));
  const seat = (await apiAs(page, 'GET', `/api/sessions/${sessionId}/participants`)).body.find((p) => p.user_id === bob.id);
  assert.equal(seat.check_out.outcome, 'done');
  assert.equal(seat.goal.text, 'Read chapter 4 of the Rust book');
  // A goal no longer changes once the session ended.
  const late = await apiAs(page, 'PUT', `/api/sessions/${sessionId}/goal`, { goal: 'Something else' });
  assert.equal(late.status, 409);
  await shot(page, 'room-ended-checked-out');
});
