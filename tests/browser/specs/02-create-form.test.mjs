// The create-session form checks what the API checks, in the browser, and
// shows the API's own message when the API refuses. A scheduled session opens
// its page, with a reminder and a calendar file.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiAs, createProject, launch, see, seeText, shot, signedUp, unique } from '../lib.mjs';

let browser;
let cleo;
let dan;

before(async () => {
  browser = await launch();
  [cleo, dan] = await signedUp(browser, 'Cleo', 'Dan');
});

after(async () => {
  await browser?.close();
});

async function openDialog(page) {
  await page.getByRole('link', { name: 'Start Lock In Session' }).click();
  const dialog = page.getByRole('dialog', { name: 'Start a Lock In session' });
  await see(dialog);
  return dialog;
}

/** A `datetime-local` value `days` from now at 10:00, in the browser's zone. */
function localDate(days, hour = 10) {
  const at = new Date();
  at.setDate(at.getDate() + days);
  const pad = (n) => String(n).padStart(2, '0');
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(hour)}:00`;
}

test('the form refuses what the API would, next to the field at fault', async () => {
  const { page } = cleo;
  await page.goto('/');
  const dialog = await openDialog(page);
  const create = dialog.getByRole('button', { name: 'Start session' });

  await dialog.getByLabel('Title').fill('   ');
  await create.click();
  await seeText(dialog.locator('#title-error'), 'Must not be empty.');
  assert.equal(await dialog.getByLabel('Title').getAttribute('aria-invalid'), 'true');
  await shot(page, 'create-session-errors');

  await dialog.getByLabel('Title').fill('x'.repeat(121));
  await create.click();
  await seeText(dialog.locator('#title-error'), 'Must be at most 120 characters.');

  await dialog.getByLabel('Title').fill('Evening study');
  await dialog.getByLabel('Max participants').fill('1');
  await create.click();
  await seeText(dialog.locator('#max_participants-error'), 'Must be between 2 and 50.');
  await dialog.getByLabel('Max participants').fill('51');
  await create.click();
  await seeText(dialog.locator('#max_participants-error'), 'Must be between 2 and 50.');
  await dialog.getByLabel('Max participants').fill('6');

  await dialog.getByText('At a chosen time').click();
  await see(dialog.getByRole('button', { name: 'Schedule session' }));
  await dialog.getByRole('button', { name: 'Schedule session' }).click();
  await seeText(dialog.locator('#scheduled_start-error'), 'Choose a date and time to start.');
  await dialog.getByLabel('Start time').fill(localDate(-1));
  await dialog.getByRole('button', { name: 'Schedule session' }).click();
  await seeText(dialog.locator('#scheduled_start-error'), 'Must be in the future.');
  await dialog.getByLabel('Start time').fill(localDate(400));
  await dialog.getByRole('button', { name: 'Schedule session' }).click();
  await seeText(dialog.locator('#scheduled_start-error'), 'Must be within 366 days.');
  assert.match(page.url(), /\/$/, 'nothing was sent');
});

test("the API's refusal is shown next to the field it names", async () => {
  const id = await createProject(cleo, `Thesis ${unique()}`);
  const { page } = cleo;
  const dialog = await openDialog(page);
  await dialog.getByLabel('Title').fill('Write chapter two');
  // The project goes away while the form is open: only the API can know.
  const deleted = await apiAs(page, 'DELETE', `/api/projects/${id}`);
  assert.equal(deleted.status, 204);
  await dialog.getByRole('button', { name: 'Start session' }).click();
  await seeText(dialog.locator('#project_id-error'), 'No project with this id that you own.');
  await shot(page, 'create-session-api-refusal');
});

test('a scheduled session shows its page with a reminder and a calendar file', async () => {
  const { page } = cleo;
  const title = `Planning ${unique()}`;
  await page.goto('/');
  await dan.page.goto('/');
  const dialog = await openDialog(page);
  await dialog.getByLabel('Title').fill(title);
  await dialog.getByText('Study', { exact: true }).click();
  await dialog.getByText('At a chosen time').click();
  await dialog.getByLabel('Start time').fill(localDate(1));
  await dialog.getByRole('button', { name: 'Schedule session' }).click();

  await see(page.getByRole('heading', { name: title, level: 1 }));
  await see(page.getByText('Scheduled', { exact: true }));
  await see(page.getByRole('button', { name: 'Start now' }));
  const calendar = page.getByRole('link', { name: 'Add to calendar' });
  await see(calendar);
  const ics = await page.request.get(await calendar.getAttribute('href'));
  assert.equal(ics.status(), 200);
  assert.match(ics.headers()['content-type'], /text\/calendar/);
  assert.match(await ics.text(), new RegExp(`SUMMARY:${title}`));
  await shot(page, 'session-scheduled-host');

  // Dan sees it under Upcoming without reloading, and asks to be reminded.
  const card = dan.page.locator('#upcoming-list .session-card', { hasText: title });
  await see(card);
  await seeText(card, 'Starts');
  await card.getByRole('link', { name: /Details/ }).click();
  await dan.page.getByRole('button', { name: 'Remind me' }).click();
  await see(dan.page.getByText('We will remind you 10 minutes before it starts.'));
  await see(dan.page.getByRole('link', { name: 'Add to calendar' }));
  await dan.page.getByRole('link', { name: 'Reminders' }).click();
  await see(dan.page.getByText('No reminders yet.'));
  await dan.page.goBack();
  await shot(dan.page, 'session-scheduled');

  // The host starts it; Dan's page turns into a join page by itself.
  await page.getByRole('button', { name: 'Start now' }).click();
  await see(page.locator('#tiles').getByText('Cleo (you)'));
  await see(dan.page.getByRole('button', { name: 'Join session' }));
  await see(dan.page.locator('#session-people').getByText('Cleo'));
  await shot(dan.page, 'session-lobby');
});

test('a full session says why its join button is disabled', async () => {
  const { page } = cleo;
  const title = `Pair ${unique()}`;
  await page.goto('/');
  const dialog = await openDialog(page);
  await dialog.getByLabel('Title').fill(title);
  await dialog.getByLabel('Max participants').fill('2');
  await dialog.getByRole('button', { name: 'Start session' }).click();
  await see(page.locator('#tiles').getByText('Cleo (you)'));

  const [eve] = await signedUp(browser, 'Eve');
  await eve.page.locator('.session-card', { hasText: title }).getByRole('button', { name: 'Join' }).click();
  await see(eve.page.locator('#tiles').getByText('Eve (you)'));

  await dan.page.goto('/');
  const card = dan.page.locator('.session-card', { hasText: title });
  await see(card);
  await see(card.getByRole('button', { name: 'Join', disabled: true }));
  await seeText(card, 'Full');
  await shot(dan.page, 'home-full');

  // A seat frees up: the button comes back without a reload.
  await eve.page.getByRole('button', { name: 'Leave' }).click();
  // Leaving asks how it went first; Eve leaves without checking out.
  await eve.page.getByRole('button', { name: 'Leave without checking out' }).click();
  await see(card.getByRole('button', { name: 'Join', disabled: false }));
  await eve.context.close();
});
