// Every page, as a visitor and signed in, at 360 px and on a desktop: forms
// that work without JavaScript, errors next to the field at fault, the way
// back after signing in, no sideways scrolling, and a screenshot of each.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, WAIT, createProject, launch, person, see, seeText, shot, signedUp, signUp, unique } from '../lib.mjs';

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** A person whose browser runs no JavaScript. */
async function withoutScript(name) {
  const context = await browser.newContext({ baseURL: BASE, javaScriptEnabled: false, viewport: { width: 1280, height: 860 } });
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  return { name, email: `${name.toLowerCase()}-${unique()}@example.com`, password: 'correct horse battery', context, page };
}

/** Submits with the browser's own checks off, so the server's answer is what is seen. */
async function submit(page, button) {
  await page.evaluate(() => {
    for (const form of document.forms) form.setAttribute('novalidate', '');
  });
  await page.getByRole('button', { name: button }).click();
}

async function noSidewaysScroll(page) {
  const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(scroll <= width, `${page.url()} scrolls sideways: ${scroll} > ${width}`);
}

// The browser's own checks (required, minlength, type=email) come first
// without script; they are switched off here so the server's are seen too.
test('without JavaScript: sign up with errors next to the field, then create a project and a session', async () => {
  const gil = await withoutScript('Gil');
  const { page } = gil;
  await page.goto('/signup');
  await page.getByLabel('Name').fill('Gil');
  await page.getByLabel('Email').fill('not-an-email');
  await page.getByLabel('Password').fill('short');
  await submit(page, 'Sign up');
  await seeText(page.locator('#email-error'), 'Must be an email address like ada@example.com.');
  assert.equal(await page.getByLabel('Name').inputValue(), 'Gil', 'what was typed is kept');
  await page.getByLabel('Email').fill(gil.email);
  await page.getByLabel('Password').fill('short');
  await submit(page, 'Sign up');
  await seeText(page.locator('#password-error'), 'Must be at least 8 characters.');
  await shot(page, 'signup-errors');
  await page.getByLabel('Password').fill(gil.password);
  await submit(page, 'Sign up');
  await see(page.getByRole('heading', { name: 'Sessions', level: 1 }));

  await page.goto('/projects/new');
  await page.getByLabel('Name').fill('Notes app');
  await page.getByLabel('Repository link').fill('ftp://example.com/repo');
  await submit(page, 'Create project');
  await seeText(page.locator('#repo_url-error'), 'Must be an http or https URL.');
  await page.getByLabel('Repository link').fill('https://example.com/notes');
  await submit(page, 'Create project');
  await see(page.getByRole('heading', { name: 'Notes app', level: 1 }));

  // "Start Lock In Session" is a plain link to the form's own page.
  await page.getByRole('link', { name: 'Start Lock In Session' }).click();
  await see(page.getByRole('heading', { name: 'Start a Lock In session', level: 1 }));
  assert.equal(await page.getByLabel('Project').locator('option:checked').textContent(), 'Notes app');
  await page.getByLabel('Max participants').fill('99');
  await submit(page, 'Start session');
  await seeText(page.locator('#title-error'), 'Must not be empty.');
  await page.getByLabel('Title').fill('Quiet hour');
  await submit(page, 'Start session');
  await seeText(page.locator('#max_participants-error'), 'Must be between 2 and 50.');
  assert.equal(await page.getByLabel('Title').inputValue(), 'Quiet hour');
  await shot(page, 'new-session-page-errors');
  await page.getByLabel('Max participants').fill('3');
  await submit(page, 'Start session');
  await see(page.getByRole('heading', { name: 'Quiet hour', level: 1 }));
  await see(page.getByText('The session room needs JavaScript'));
  await page.getByRole('button', { name: 'Leave' }).click();
  await see(page.getByText('You left this session.'));

  await page.getByRole('button', { name: 'Sign out' }).click();
  await see(page.getByRole('heading', { name: 'Sign in', level: 1 }));
  await page.getByLabel('Email').fill(gil.email);
  await page.getByLabel('Password').fill('wrong password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await seeText(page.locator('.form-error'), 'That email and password do not match an account.');
  await shot(page, 'login-error');
  await gil.context.close();
});

test('a page a visitor may not see sends them to sign in, and back', async () => {
  const [hal] = await signedUp(browser, 'Hal');
  const { page } = hal;
  await page.getByRole('button', { name: 'Sign out' }).click();
  await see(page.getByRole('heading', { name: 'Sign in', level: 1 }));
  await page.goto('/history/ai?q=closure');
  await see(page.getByRole('heading', { name: 'Sign in', level: 1 }));
  assert.match(page.url(), /\/login\?next=%2Fhistory%2Fai%3Fq%3Dclosure$/);
  await page.getByLabel('Email').fill(hal.email);
  await page.getByLabel('Password').fill(hal.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await see(page.getByRole('heading', { name: 'History', level: 1 }));
  assert.equal(new URL(page.url()).pathname + new URL(page.url()).search, '/history/ai?q=closure');
  assert.equal(await page.getByLabel('Search your questions and answers').inputValue(), 'closure');
  await hal.context.close();
});

test('every page fits 360 px and a desktop, with a screenshot of each', async () => {
  for (const [label, size] of [['mobile', { width: 360, height: 760 }], ['desktop', { width: 1280, height: 860 }]]) {
    const visitor = await person(browser, 'Visitor', size);
    for (const [name, path] of [['welcome', '/'], ['login', '/login'], ['signup', '/signup']]) {
      await visitor.page.goto(path);
      await noSidewaysScroll(visitor.page);
      await shot(visitor.page, `${label}-${name}`);
    }
    await visitor.context.close();

    const ida = await signUp(await person(browser, 'Ida', size));
    const { page } = ida;
    const projectId = await createProject(ida, `Reading list ${unique()}`);
    const pages = [
      ['home', '/'],
      ['projects', '/projects'],
      ['project-new', '/projects/new'],
      ['project', `/projects/${projectId}`],
      ['project-edit', `/projects/${projectId}/edit`],
      ['timelapse-upload', `/projects/${projectId}/timelapses/new`],
      ['session-new', `/sessions/new?project=${projectId}`],
      ['history', '/history'],
      ['history-ai', '/history/ai'],
      ['reminders', '/reminders'],
      ['not-found', '/projects/00000000-0000-0000-0000-000000000000'],
    ];
    for (const [name, path] of pages) {
      const response = await page.goto(path);
      assert.equal(response.status(), name === 'not-found' ? 404 : 200, `${path} answers`);
      await noSidewaysScroll(page);
      await shot(page, `${label}-${name}`);
    }
    await page.goto(`/projects/${projectId}`);
    await page.getByRole('link', { name: 'Start Lock In Session' }).click();
    await page.getByRole('dialog').getByLabel('Title').fill('Read chapter 4');
    await page.getByRole('dialog').getByRole('button', { name: 'Start session' }).click();
    await see(page.locator('#tiles').getByText('Ida (you)'));
    await noSidewaysScroll(page);
    await shot(page, `${label}-room`);
    await page.getByRole('button', { name: 'End session' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'End session' }).click();
    await see(page.getByText(/This session has ended/));
    await noSidewaysScroll(page);
    await shot(page, `${label}-session-ended`);
    await ida.context.close();
  }
});

test('keyboard: the skip link and the room tabs work without a mouse', async () => {
  const [jo] = await signedUp(browser, 'Jo');
  const { page } = jo;
  await page.keyboard.press('Tab');
  await see(page.getByRole('link', { name: 'Skip to content' }));
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  await page.getByRole('link', { name: 'Start Lock In Session' }).click();
  await page.getByRole('dialog').getByLabel('Title').fill('Keyboard only');
  await page.getByRole('dialog').getByLabel('Title').press('Enter');
  await see(page.locator('#tiles').getByText('Jo (you)'));
  await page.getByRole('tab', { name: /Chat/ }).focus();
  await page.keyboard.press('ArrowRight');
  await see(page.getByRole('tab', { name: /Assistant/, selected: true }));
  await page.keyboard.press('ArrowRight');
  await see(page.getByRole('tab', { name: /People/, selected: true }));
  await see(page.locator('#people').getByText('Jo'));
  await jo.context.close();
});
