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
  return body;
}

function wire(form) {
  reflectWhen(form);
  // Without this script the server reads the time as UTC; with it, the browser converts.
  const hint = form.querySelector('#cs-start-hint');
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (hint && zone) hint.textContent = `In your time zone (${zone}).`;
  form.addEventListener('change', (event) => {
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
