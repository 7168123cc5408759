// The create-session form, in its dialog or on its own page: the same checks
// as the API before sending, then the API's own refusal next to the field it
// names. An instant session opens its room; a scheduled one its page.

import { api, sentence, showFieldError, showFormError, validateForm } from './app.js';

/** The form's fields by the API's names. */
const field = (form, name) => form.querySelector(`[data-field="${name}"]`) || form.elements[name];

function whenOf(form) {
  return form.querySelector('input[name="when"]:checked')?.value === 'later' ? 'later' : 'now';
}

function reflectWhen(form) {
  const when = whenOf(form);
  form.dataset.when = when;
  const start = form.elements.scheduled_start;
  start.required = when === 'later';
  const submit = form.querySelector('[data-submit]');
  if (submit) submit.textContent = when === 'later' ? 'Schedule session' : 'Start session';
}

/** The start time as a Date, from the `datetime-local` value in the person's own zone. */
function startOf(form) {
  const value = form.elements.scheduled_start.value;
  if (!value) return null;
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? null : at;
}

/** The rules on the start time (domain::session::Schedule): in the future, and within the horizon. */
function startProblem(form) {
  if (whenOf(form) !== 'later') return '';
  const at = startOf(form);
  if (!at) return 'Choose a date and time to start.';
  if (at.getTime() <= Date.now()) return 'Must be in the future.';
  const days = Number(form.elements.scheduled_start.dataset.horizonDays);
  if (at.getTime() > Date.now() + days * 24 * 3600 * 1000) return `Must be within ${days} days.`;
  return '';
}

/** Shows the custom minutes and the pomodoro fields only when they apply. */
function reflectShape(form) {
  const elements = form.elements;
  if (!elements.planned_length || !elements.rhythm) return;
  form.dataset.length = elements.planned_length.value === 'custom' ? 'custom' : '';
  form.dataset.rhythm = elements.rhythm.value;
  const custom = elements.planned_length.value === 'custom';
  const pomodoro = elements.rhythm.value === 'pomodoro';
  // A field that does not apply is neither checked nor sent.
  elements.custom_minutes.required = custom;
  elements.custom_minutes.disabled = !custom;
  for (const name of ['work_minutes', 'break_minutes', 'long_break_minutes', 'long_break_every']) {
    elements[name].disabled = !pomodoro;
  }
}

/** The shape fields as the API names them (domain::ritual). */
function shapeOf(form) {
  const elements = form.elements;
  const shape = {};
  if (!elements.planned_length || !elements.rhythm) return shape;
  const length = elements.planned_length.value;
  if (length === 'custom') shape.planned_minutes = Number(elements.custom_minutes.value);
  else if (length) shape.planned_minutes = Number(length);
  if (elements.rhythm.value === 'single') shape.rhythm = { kind: 'single' };
  if (elements.rhythm.value === 'pomodoro') {
    shape.rhythm = {
      kind: 'pomodoro',
      work_minutes: Number(elements.work_minutes.value),
      break_minutes: Number(elements.break_minutes.value),
      long_break_minutes: Number(elements.long_break_minutes.value),
      long_break_every: Number(elements.long_break_every.value),
    };
  }
  if (elements.quiet_work.checked) shape.quiet_work = true;
  return shape;
}

function request(form) {
  const elements = form.elements;
  const body = {
    title: elements.title.value,
    session_type: form.querySelector('input[name="session_type"]:checked')?.value || 'coding',
    max_participants: Number(elements.max_participants.value),
    ai_agent_enabled: elements.ai_agent_enabled.checked,
  };
  if (elements.description.value.trim()) body.description = elements.description.value;
  if (elements.project_id.value) body.project_id = elements.project_id.value;
  if (whenOf(form) === 'later') body.scheduled_start = startOf(form).toISOString();
  return Object.assign(body, shapeOf(form));
}

function wire(form) {
  reflectWhen(form);
  reflectShape(form);
  // Without this script the server reads the time as UTC; with it, the browser converts.
  const hint = form.querySelector('#cs-start-hint');
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (hint && zone) hint.textContent = `In your time zone (${zone}).`;
  form.addEventListener('change', (event) => {
    if (event.target.name === 'planned_length' || event.target.name === 'rhythm') reflectShape(form);
    if (event.target.name === 'when') {
      reflectWhen(form);
      showFieldError(form.elements.scheduled_start, '');
    }
  });
  const dialog = form.closest('dialog');
  if (dialog) {
    dialog.addEventListener('opened', () => form.elements.title.focus());
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showFormError(form, '');
    const start = form.elements.scheduled_start;
    const valid = validateForm(form, () => [[start, startProblem(form)]]);
    if (!valid) return;
    const submit = form.querySelector('[data-submit]');
    submit.disabled = true;
    try {
      const session = await api('POST', '/api/sessions', request(form));
      location.assign(`/sessions/${session.id}`);
    } catch (error) {
      submit.disabled = false;
      // The API names the field at fault; its message goes next to that field.
      const shown = error.field ? form.querySelector(`#${CSS.escape(error.field)}-error`) : null;
      if (shown) {
        const input = field(form, error.field);
        shown.textContent = sentence(error.message);
        shown.hidden = false;
        if (input && input.setAttribute) {
          input.setAttribute('aria-invalid', 'true');
          if (input.focus) input.focus();
        }
      } else {
        showFormError(form, sentence(error.message));
      }
    }
  });
}

for (const form of document.querySelectorAll('form[data-session-form]')) wire(form);
