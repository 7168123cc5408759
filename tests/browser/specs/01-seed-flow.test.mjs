// The seed's flow, end to end, in two browsers: Ada starts a session from her
// project page; Bob, on home, sees it appear without reloading and joins; Ada
// sees him arrive; they chat and rate an answer; Ada ends it and Bob's room
// says so at once. Then both look back at it in their history.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiAs, createProject, gone, launch, see, seeText, shot, signedUp, unique } from '../lib.mjs';

let browser;
let ada;
let bob;
const title = `Deep work ${unique()}`;
const project = `Focus timer ${unique()}`;

before(async () => {
  browser = await launch();
  [ada, bob] = await signedUp(browser, 'Ada', 'Bob');
});

after(async () => {
  await browser?.close();
});

test('Ada starts a session from her project page and lands in its room', async () => {
  await createProject(ada, project);
  const page = ada.page;
  await shot(page, 'project-page');
  const start = page.getByRole('link', { name: 'Start Lock In Session' });
  const upload = page.getByRole('link', { name: 'Upload Timelapse' });
  await see(start);
  await see(upload);
  // Side by side: the same row, start first.
  const [a, b] = [await start.boundingBox(), await upload.boundingBox()];
  assert.ok(Math.abs(a.y - b.y) < 4 && a.x < b.x, 'the two buttons sit side by side');

  // Bob is on home before the session exists.
  await bob.page.goto('/');
  await see(bob.page.getByRole('heading', { name: 'Active now' }));

  await start.click();
  const dialog = page.getByRole('dialog', { name: 'Start a Lock In session' });
  await see(dialog);
  assert.equal(await dialog.getByLabel('Project').inputValue() !== '', true, 'the project is pre-selected');
  assert.equal(await dialog.getByLabel('Project').locator('option:checked').textContent(), project);
  await dialog.getByLabel('Title').fill(title);
  await dialog.getByLabel('Description').fill('Ship the timer screen.');
  await dialog.getByText('Coding', { exact: true }).click();
  await dialog.getByLabel('Max participants').fill('4');
  await shot(page, 'create-session-dialog');
  await dialog.getByRole('button', { name: 'Start session' }).click();

  await see(page.getByRole('heading', { name: title, level: 1 }));
  await see(page.locator('#tiles').getByText('Ada (you)'));
  await see(page.locator('#tiles .badge', { hasText: 'Host' }));
  await seeText(page.locator('[data-seats]'), '1 of 4');
  await shot(page, 'room-alone');
});

test('Bob sees the session appear on home without reloading, and joins', async () => {
  const page = bob.page;
  const card = page.locator('.session-card', { hasText: title });
  await see(card);
  await seeText(card, project);
  await seeText(card, 'Ada');
  await seeText(card, '1 / 4');
  await seeText(card, 'AI on');
  await seeText(card, 'Coding');
  await shot(page, 'home-live');
  await card.getByRole('button', { name: 'Join' }).click();
  await see(page.getByRole('heading', { name: title, level: 1 }));
  await see(page.locator('#tiles').getByText('Bob (you)'));
  await see(page.locator('#tiles').getByText('Ada'));
});

test('Ada sees Bob arrive without reloading', async () => {
  const page = ada.page;
  await see(page.locator('#tiles').getByText('Bob'));
  await seeText(page.locator('[data-seats]'), '2 of 4');
  await page.getByRole('tab', { name: /People/ }).click();
  await see(page.locator('#people').getByText('Bob'));
  await see(page.locator('#people .badge', { hasText: 'Host' }));
  await page.getByRole('tab', { name: /Chat/ }).click();
});

test('Bob chats and Ada sees it', async () => {
  await bob.page.getByRole('textbox', { name: 'Message' }).fill('Hi Ada, locking in on the tests.');
  await bob.page.getByRole('textbox', { name: 'Message' }).press('Enter');
  await see(bob.page.locator('#chat-log').getByText('Hi Ada, locking in on the tests.'));
  await see(ada.page.locator('#chat-log').getByText('Hi Ada, locking in on the tests.'));
  await seeText(ada.page.locator('#chat-log .message-name'), 'Bob');
  await shot(ada.page, 'room-chat');
});

test('the assistant transcript shows questions as they happen, with votes', async () => {
  // The voice assistant comes later; a logged interaction stands in for it.
  const { page } = bob;
  const sessionId = page.url().split('/sessions/')[1];
  const logged = await apiAs(page, 'POST', `/api/sessions/${sessionId}/ai-logs`, {
    question: 'What is a closure?',
    answer: 'A function that captures its environment.',
  });
  assert.equal(logged.status, 201);
  await ada.page.getByRole('tab', { name: /Assistant/ }).click();
  const exchange = ada.page.locator('.exchange', { hasText: 'What is a closure?' });
  await see(exchange);
  await exchange.getByRole('button', { name: /Helpful · 0/ }).click();
  await see(exchange.getByRole('button', { name: /^Helpful · 1/, pressed: true }));
  await page.getByRole('tab', { name: /Assistant/ }).click();
  await see(page.locator('.exchange', { hasText: 'What is a closure?' }).getByRole('button', { name: /^Helpful · 1/ }));
  await shot(ada.page, 'room-assistant');
});

test('the host switches the assistant off and everyone sees its status', async () => {
  const toggle = ada.page.getByRole('switch', { name: 'AI assistant' });
  await see(toggle);
  await seeText(bob.page.locator('#agent-status'), 'Joining');
  await toggle.click();
  await seeText(bob.page.locator('#agent-status'), 'Off');
  await seeText(bob.page.locator('[data-ai-badge]'), 'AI off');
  assert.equal(await bob.page.getByRole('switch', { name: 'AI assistant' }).count(), 0, 'only the host has the switch');
});

test('Ada ends the session; Bob\'s room says it ended at once', async () => {
  const page = ada.page;
  await page.getByRole('button', { name: 'End session' }).click();
  const confirm = page.getByRole('dialog', { name: 'End this session for everyone?' });
  await see(confirm);
  await shot(page, 'room-end-confirm');
  await confirm.getByRole('button', { name: 'End session' }).click();
  await see(page.getByText(/This session has ended after/));

  await see(bob.page.getByRole('heading', { name: 'This session has ended' }));
  assert.equal(await bob.page.locator('#chat-input').isDisabled(), true);
  await shot(bob.page, 'room-ended');
  await shot(page, 'session-summary');
  await bob.page.getByRole('link', { name: 'See the recap' }).click();
  await see(bob.page.getByText('Hi Ada, locking in on the tests.'));
});

test('history lists the session with its length, people and questions', async () => {
  const page = ada.page;
  await page.getByRole('link', { name: 'History' }).click();
  const row = page.getByRole('row', { name: new RegExp(title) });
  await see(row);
  await seeText(row, '2 people');
  assert.equal((await row.locator('td').last().textContent()).trim(), '1');
  await shot(page, 'history');

  const bobs = bob.page;
  await bobs.goto('/history/ai');
  await see(bobs.getByText('What is a closure?'));
  await bobs.getByLabel('Search your questions and answers').fill('CAPTURES');
  await bobs.getByRole('button', { name: 'Search' }).click();
  await see(bobs.getByText('What is a closure?'));
  await shot(bobs, 'history-ai');
  await bobs.getByLabel('Search your questions and answers').fill('monads');
  await bobs.getByRole('button', { name: 'Search' }).click();
  await see(bobs.getByText('Nothing you asked matches “monads”.'));
  await gone(bobs.getByText('What is a closure?'));
});
