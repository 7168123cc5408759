// Shared by every page: times in the reader's own zone, dialogs, form
// checks that mirror the API's rules, and a small client for the JSON API.
// Pages work without this file; it only makes them nicer.

/** A new `tag` element with an optional class name and text. */
export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * The assistant's answer as nodes: text as text, fenced code blocks
 * (```lang … ```) as <pre><code>, never as HTML. An unclosed fence (an answer
 * cut short) still shows its code as code.
 */
export function answerNodes(text) {
  const nodes = [];
  const parts = String(text).split(/^[ \t]*```/m);
  parts.forEach((part, i) => {
    if (i % 2 === 0) {
      const prose = part.trim();
      if (prose) nodes.push(element('p', 'answer-text', prose));
      return;
    }
    const newline = part.indexOf('\n');
    const language = (newline < 0 ? '' : part.slice(0, newline)).trim();
    const code = element('code', language ? `language-${language.replace(/[^\w+#-]/g, '')}` : '', newline < 0 ? part : part.slice(newline + 1).replace(/\n$/, ''));
    const block = element('pre', 'answer-code');
    if (language) block.dataset.language = language;
    block.append(code);
    nodes.push(block);
  });
  return nodes;
}

/** The capital letter an avatar shows for `name` ("?" for none). */
export const initial = (name) => (String(name || '').trim()[0] || '?').toUpperCase();

/** The CSRF token the API wants on every state-changing call made with the cookie. */
export function csrfToken() {
  const pair = document.cookie.split('; ').find((item) => item.startsWith('lockin_csrf='));
  return pair ? pair.slice('lockin_csrf='.length) : '';
}

/** A refusal from the API: `{status, code, message, field}`. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail.message || 'Something went wrong');
    this.status = status;
    this.code = detail.code || 'internal';
    this.field = detail.field || null;
  }
}

/** Calls the JSON API as the signed-in person; resolves to the answer's JSON (or null). */
export async function api(method, path, body) {
  const headers = { 'x-csrf-token': csrfToken() };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, { code: 'offline', message: 'could not reach Lock In; check your connection and try again' });
  }
  const text = await response.text();
  const json = text ? safeParse(text) : null;
  if (!response.ok) {
    throw new ApiError(response.status, (json && json.error) || { message: `the server answered ${response.status}` });
  }
  return json;
}

function safeParse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** "must not be empty" → "Must not be empty." */
export function sentence(message) {
  const text = String(message || '').trim();
  if (!text) return '';
  const capital = text[0].toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

// ---- Times -----------------------------------------------------------------

const timeOnly = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayAndTime = new Intl.DateTimeFormat(undefined, {
  weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
});
const fullDate = new Intl.DateTimeFormat(undefined, {
  day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
});

/** A moment as a person reads it: "Today, 14:05", "Tue 3 Dec, 09:30", "3 Dec 2025, 09:30". */
export function formatTime(iso) {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return '';
  const now = new Date();
  const sameDay = at.toDateString() === now.toDateString();
  if (sameDay) return `Today, ${timeOnly.format(at)}`;
  const tomorrow = new Date(now);
  tomorrow.setDate(now.getDate() + 1);
  if (at.toDateString() === tomorrow.toDateString()) return `Tomorrow, ${timeOnly.format(at)}`;
  if (at.getFullYear() === now.getFullYear()) return dayAndTime.format(at);
  return fullDate.format(at);
}

/** The clock time only, for chat lines: "14:05". */
export function formatClock(iso) {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? '' : timeOnly.format(at);
}

/** Rewrites every `<time datetime>` under `root` in the reader's zone; the UTC text stays as a tooltip. */
export function localizeTimes(root = document) {
  for (const element of root.querySelectorAll('time[datetime]')) {
    if (element.dataset.localized) continue;
    const text = element.classList.contains('message-time')
      ? formatClock(element.dateTime)
      : formatTime(element.dateTime);
    if (!text) continue;
    element.title = element.textContent.trim();
    element.textContent = text;
    element.dataset.localized = 'true';
  }
}

// ---- Dialogs -----------------------------------------------------------------

/** Opens the dialog a `[data-dialog]` link names; the link itself leads to a page that works without script. */
function wireDialogs() {
  document.addEventListener('click', (event) => {
    const opener = event.target.closest('[data-dialog]');
    if (opener) {
      const dialog = document.getElementById(opener.dataset.dialog);
      if (dialog && typeof dialog.showModal === 'function') {
        event.preventDefault();
        dialog.showModal();
        const first = dialog.querySelector('input:not([type=hidden]):not([type=radio]), textarea, select');
        if (first) first.focus();
        dialog.dispatchEvent(new CustomEvent('opened'));
      }
      return;
    }
    const closer = event.target.closest('[data-close]');
    if (closer) {
      const dialog = closer.closest('dialog');
      // Outside a dialog (the same form on a page of its own) it is a plain link.
      if (dialog) {
        event.preventDefault();
        dialog.close();
      }
    }
  });
}

// ---- Form checks ---------------------------------------------------------------

/** The element that shows `input`'s error: the one of its `aria-describedby` ids ending in "-error". */
function errorElementOf(input) {
  const ids = (input.getAttribute('aria-describedby') || '').split(/\s+/);
  const id = ids.find((name) => name.endsWith('-error'));
  return id ? document.getElementById(id) : null;
}

/** Shows `message` next to `input` (or clears it when empty). */
export function showFieldError(input, message) {
  const element = errorElementOf(input);
  input.setAttribute('aria-invalid', message ? 'true' : 'false');
  if (!element) return;
  element.textContent = message || '';
  element.hidden = !message;
}

/** Shows a message about no one field above the form. */
export function showFormError(form, message) {
  const element = form.querySelector('.form-error');
  if (!element) return;
  element.textContent = message || '';
  element.hidden = !message;
}

const chars = (text) => [...text].length;

/** The API's rule for an email address (domain::user::Email). */
function isEmail(text) {
  const email = text.trim().toLowerCase();
  if (email.length > 254 || /\s/.test(email)) return false;
  const at = email.indexOf('@');
  if (at < 1) return false;
  const domain = email.slice(at + 1);
  return domain.includes('.') && !domain.startsWith('.') && !domain.endsWith('.') && !domain.includes('@');
}

/** The API's rule for a repository link (domain::project::RepoUrl). */
function urlProblem(text) {
  const value = text.trim();
  if (!value) return '';
  if (value.length > 500) return 'Must be at most 500 characters.';
  let url;
  try {
    url = new URL(value);
  } catch {
    return 'Must be a URL like https://github.com/you/repo.';
  }
  if (!['http:', 'https:'].includes(url.protocol) || !url.hostname) return 'Must be an http or https URL.';
  return '';
}

/** The first thing wrong with one field, by the same rules the API applies; '' if none. */
export function fieldProblem(input) {
  if (input.disabled || input.type === 'hidden') return '';
  const value = input.value;
  const trimmed = value.trim();
  if (input.type === 'checkbox' || input.type === 'radio' || input.type === 'file') return '';
  if (input.required && !trimmed) return 'Must not be empty.';
  if (!trimmed) return '';
  const min = input.dataset.minChars;
  if (min && chars(value) < Number(min)) return `Must be at least ${min} characters.`;
  const max = input.dataset.maxChars;
  if (max && chars(trimmed) > Number(max)) return `Must be at most ${max} characters.`;
  if (input.type === 'email' && !isEmail(value)) return 'Must be an email address like ada@example.com.';
  if (input.dataset.url !== undefined) return urlProblem(value);
  if (input.type === 'number') {
    const number = Number(trimmed);
    const low = Number(input.min);
    const high = Number(input.max);
    if (!Number.isInteger(number) || number < low || number > high) return `Must be between ${low} and ${high}.`;
  }
  return '';
}

/** Checks every field of `form`, shows each problem next to its field and focuses the first. */
export function validateForm(form, extra = () => []) {
  const problems = [];
  for (const input of form.querySelectorAll('input, textarea, select')) {
    const problem = fieldProblem(input);
    showFieldError(input, problem);
    if (problem) problems.push(input);
  }
  for (const [input, problem] of extra()) {
    showFieldError(input, problem);
    if (problem && !problems.includes(input)) problems.push(input);
  }
  if (problems.length) problems[0].focus();
  return problems.length === 0;
}

function wireValidation() {
  for (const form of document.querySelectorAll('form[data-validate]')) {
    form.noValidate = true;
    form.addEventListener('input', (event) => {
      if (event.target.getAttribute('aria-invalid') === 'true') showFieldError(event.target, '');
    });
    // Forms with their own submit logic (data-session-form) validate there.
    if (form.hasAttribute('data-session-form')) continue;
    form.addEventListener('submit', (event) => {
      if (!validateForm(form)) event.preventDefault();
    });
  }
}

// ---- The reader's days ---------------------------------------------------------

/**
 * Keeps the reader's offset from UTC in a cookie, so pages that count days
 * (History's focus) count the reader's. A page made for another offset (the
 * first visit, or after travelling) is made again once.
 */
function keepUtcOffset() {
  const minutes = -new Date().getTimezoneOffset();
  document.cookie = `lockin_utc_offset=${minutes}; path=/; max-age=31536000; samesite=lax`;
  const counted = document.querySelector('[data-utc-offset]');
  if (!counted || Number(counted.dataset.utcOffset) === minutes) return;
  const key = `lockin-utc-offset-reload:${location.pathname}`;
  if (sessionStorage.getItem(key) === String(minutes)) return;
  sessionStorage.setItem(key, String(minutes));
  location.reload();
}

// ---- Start ---------------------------------------------------------------------

// Notes for browsers without script (`<noscript>` is not shown when script is
// merely switched off for a page, so the script removes them instead).
for (const note of document.querySelectorAll('[data-without-script]')) note.remove();
keepUtcOffset();
localizeTimes();
wireDialogs();
wireValidation();
