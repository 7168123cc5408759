// Goals and check-outs in the room (docs/RITUAL.md, Goals). Everyone's goal
// comes with the participants query, so this only draws what the server
// keeps: this person's goal panel (set it, tick its tasks, change it), the
// check-out dialog (from the panel, on leaving, and once the session ended),
// and the words the People tab and the tiles show for anyone's goal.

import { api, element, sentence } from './app.js';

const MAX_TASKS = 10;
const MAX_CHARS = 200;
const OUTCOME_WORDS = { done: 'Done', partly: 'Partly', not_yet: 'Not yet' };

/** "Done", "Partly", "Not yet" for a check-out's outcome. */
export const outcomeWords = (outcome) => OUTCOME_WORDS[outcome] || outcome;

/** "2 of 3 tasks done", or '' for a goal without tasks. */
export function progressWords(goal) {
  if (!goal || !goal.tasks.length) return '';
  const done = goal.tasks.filter((task) => task.done).length;
  return `${done} of ${goal.tasks.length} tasks done`;
}

/** What one line under a person's name says about their goal ('' for none). */
export function goalLine(person) {
  if (!person.goal) return '';
  const parts = [person.goal.text];
  const progress = progressWords(person.goal);
  if (progress) parts.push(progress);
  if (person.check_out) parts.push(outcomeWords(person.check_out.outcome));
  return parts.join(' · ');
}

/** The People tab's nodes for a person's goal and check-out. */
export function goalNodes(person) {
  const nodes = [];
  if (person.goal) {
    const goal = element('p', 'person-goal');
    goal.append(element('span', 'visually-hidden', 'Goal: '), person.goal.text);
    nodes.push(goal);
    if (person.goal.tasks.length) {
      const list = element('ul', 'person-tasks');
      list.setAttribute('aria-label', `${person.name}'s tasks, ${progressWords(person.goal)}`);
      for (const task of person.goal.tasks) {
        const item = element('li', task.done ? 'task-done' : '', task.text);
        item.prepend(element('span', 'visually-hidden', task.done ? 'Done: ' : 'To do: '));
        list.append(item);
      }
      nodes.push(list);
    }
  }
  if (person.check_out) {
    const line = element('p', `person-checkout outcome-${person.check_out.outcome}`);
    line.append(element('span', 'checkout-outcome', `Checked out: ${outcomeWords(person.check_out.outcome)}`));
    if (person.check_out.note) line.append(' — ', person.check_out.note);
    nodes.push(line);
  }
  return nodes;
}

export class GoalPanel {
  /**
   * @param {object} options
   * @param {string} options.sessionId
   * @param {(text: string) => void} options.announce tells screen readers
   * @param {() => void} options.leave leaves the session (after a check-out, or without one)
   */
  constructor({ sessionId, announce, leave }) {
    this.sessionId = sessionId;
    this.announce = announce;
    this.leave = leave;
    this.mine = null;
    this.ended = false;
    this.editing = false;
    this.leaving = false;
    const $ = (id) => document.getElementById(id);
    this.panel = $('goal-panel');
    this.form = $('goal-form');
    this.input = $('goal-input');
    this.taskInputs = $('goal-task-inputs');
    this.addTask = $('goal-add-task');
    this.error = $('goal-error');
    this.view = $('goal-view');
    this.text = $('goal-text');
    this.tasks = $('goal-tasks');
    this.checkoutLine = $('goal-checkout-line');
    this.dialog = $('checkout-dialog');
    this.checkoutForm = $('checkout-form');
    this.checkoutError = $('checkout-error');
    this.wire();
  }

  wire() {
    this.addTask.addEventListener('click', () => {
      const input = this.addTaskInput('');
      if (input) input.focus();
    });
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.save();
    });
    document.getElementById('goal-edit').addEventListener('click', () => this.edit());
    document.getElementById('goal-cancel').addEventListener('click', () => {
      this.editing = false;
      this.draw();
      document.getElementById('goal-edit').focus();
    });
    for (const opener of document.querySelectorAll('[data-check-out]')) {
      opener.addEventListener('click', () => this.openCheckOut(false));
    }
    this.checkoutForm.addEventListener('change', () => {
      this.checkoutError.hidden = true;
    });
    this.checkoutForm.addEventListener('submit', (event) => {
      event.preventDefault();
      this.checkOut();
    });
    document.getElementById('checkout-skip').addEventListener('click', () => {
      this.dialog.close();
      if (this.leaving) this.leave();
    });
    this.dialog.addEventListener('close', () => {
      this.leaving = false;
    });
  }

  /** This person's seat, as the participants query last sent it. */
  follow(mine) {
    this.mine = mine || null;
    this.draw();
  }

  /** The session ended: a goal can no longer change, a check-out still can. */
  end() {
    this.ended = true;
    this.editing = false;
    this.draw();
  }

  /** Whether leaving should first ask how it went. */
  wantsCheckOut() {
    return Boolean(this.mine && !this.mine.check_out);
  }

  draw() {
    const goal = this.mine && this.mine.goal;
    const present = this.mine && this.mine.status === 'joined';
    const showForm = !this.ended && present && (!goal || this.editing);
    this.form.hidden = !showForm;
    this.view.hidden = showForm || !goal;
    this.panel.hidden = !this.mine || (!showForm && !goal && !this.ended);
    document.getElementById('goal-cancel').hidden = !goal;
    document.getElementById('goal-edit').hidden = this.ended || !present || showForm;
    document.getElementById('goal-none').hidden = Boolean(goal) || showForm;
    if (goal && !showForm) {
      this.text.textContent = goal.text;
      this.drawTasks(goal);
    }
    const checkOut = this.mine && this.mine.check_out;
    this.checkoutLine.hidden = !checkOut;
    if (checkOut) {
      this.checkoutLine.textContent = `Checked out: ${outcomeWords(checkOut.outcome)}${checkOut.note ? ` — ${checkOut.note}` : ''}`;
    }
    for (const opener of document.querySelectorAll('[data-check-out]')) {
      opener.textContent = checkOut ? 'Change check-out' : 'Check out';
      opener.hidden = !this.mine;
    }
  }

  drawTasks(goal) {
    this.tasks.replaceChildren(
      ...goal.tasks.map((task, index) => {
        const item = element('li', 'goal-task');
        const box = element('input');
        box.type = 'checkbox';
        box.id = `goal-task-${index}`;
        box.checked = task.done;
        box.disabled = this.ended || this.mine.status !== 'joined';
        box.addEventListener('change', () => this.tick(index, box));
        const label = element('label', '', task.text);
        label.htmlFor = box.id;
        item.append(box, label);
        return item;
      }),
    );
  }

  edit() {
    const goal = this.mine && this.mine.goal;
    this.editing = true;
    this.input.value = goal ? goal.text : '';
    this.taskInputs.replaceChildren();
    for (const task of goal ? goal.tasks : []) this.addTaskInput(task.text, task.done);
    this.draw();
    this.input.focus();
  }

  addTaskInput(text, done = false) {
    if (this.taskInputs.children.length >= MAX_TASKS) {
      this.showError(`A goal holds at most ${MAX_TASKS} tasks.`);
      return null;
    }
    const index = this.taskInputs.children.length + 1;
    const item = element('li', 'goal-task-input');
    const input = element('input');
    input.type = 'text';
    input.maxLength = MAX_CHARS;
    input.value = text;
    input.dataset.done = String(done);
    input.setAttribute('aria-label', `Task ${index}`);
    const remove = element('button', 'btn btn-quiet', 'Remove');
    remove.type = 'button';
    remove.setAttribute('aria-label', `Remove task ${index}`);
    remove.addEventListener('click', () => {
      item.remove();
      this.addTask.focus();
    });
    item.append(input, remove);
    this.taskInputs.append(item);
    return input;
  }

  showError(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
    this.input.setAttribute('aria-invalid', message ? 'true' : 'false');
  }

  async save() {
    const text = this.input.value.trim();
    const tasks = [...this.taskInputs.querySelectorAll('input')]
      .map((input) => ({ text: input.value.trim(), done: input.dataset.done === 'true' }))
      .filter((task) => task.text);
    if (!text) {
      this.showError('Say what you will do first.');
      this.input.focus();
      return;
    }
    if ([...text].length > MAX_CHARS) {
      this.showError(`Must be at most ${MAX_CHARS} characters.`);
      this.input.focus();
      return;
    }
    this.showError('');
    const submit = this.form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      this.mine = await api('PUT', `/api/sessions/${this.sessionId}/goal`, { goal: text, tasks });
      this.editing = false;
      this.draw();
      this.announce('Goal set. Everyone in the room can see it.');
      document.getElementById('goal-edit').focus();
    } catch (failure) {
      this.showError(sentence(failure.message));
    } finally {
      submit.disabled = false;
    }
  }

  async tick(index, box) {
    const goal = this.mine.goal;
    const tasks = goal.tasks.map((task, at) => ({ text: task.text, done: at === index ? box.checked : task.done }));
    box.disabled = true;
    try {
      this.mine = await api('PUT', `/api/sessions/${this.sessionId}/goal`, { goal: goal.text, tasks });
      this.announce(progressWords(this.mine.goal));
    } catch (failure) {
      box.checked = !box.checked;
      this.announce(sentence(failure.message));
    } finally {
      box.disabled = this.ended;
    }
  }

  /** Opens the check-out dialog; `leaving`: the person asked to leave. */
  openCheckOut(leaving) {
    this.leaving = leaving;
    const goal = this.mine && this.mine.goal;
    document.getElementById('checkout-goal').textContent = goal ? goal.text : 'You set no goal this time.';
    document.getElementById('checkout-submit').textContent = leaving ? 'Check out and leave' : 'Check out';
    document.getElementById('checkout-skip').textContent = leaving ? 'Leave without checking out' : 'Not now';
    const previous = this.mine && this.mine.check_out;
    const outcome = previous ? previous.outcome : goal && goal.tasks.length && goal.tasks.every((task) => task.done) ? 'done' : null;
    for (const radio of this.checkoutForm.querySelectorAll('input[name="outcome"]')) radio.checked = radio.value === outcome;
    document.getElementById('checkout-note').value = previous && previous.note ? previous.note : '';
    this.checkoutError.hidden = true;
    this.dialog.showModal();
    const first = this.checkoutForm.querySelector('input[name="outcome"]:checked') || this.checkoutForm.querySelector('input[name="outcome"]');
    first.focus();
  }

  async checkOut() {
    const chosen = this.checkoutForm.querySelector('input[name="outcome"]:checked');
    if (!chosen) {
      this.checkoutError.textContent = 'Choose how it went: done, partly or not yet.';
      this.checkoutError.hidden = false;
      this.checkoutForm.querySelector('input[name="outcome"]').focus();
      return;
    }
    const note = document.getElementById('checkout-note').value.trim();
    const submit = document.getElementById('checkout-submit');
    submit.disabled = true;
    try {
      this.mine = await api('POST', `/api/sessions/${this.sessionId}/check-out`, { outcome: chosen.value, note });
      const leaving = this.leaving;
      this.dialog.close();
      this.draw();
      this.announce(`Checked out: ${outcomeWords(chosen.value)}.`);
      if (leaving) this.leave();
    } catch (failure) {
      this.checkoutError.textContent = sentence(failure.message);
      this.checkoutError.hidden = false;
    } finally {
      submit.disabled = false;
    }
  }
}
