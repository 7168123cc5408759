// The session room. Four live queries keep it true to the moment: the
// session (seats, the assistant's state, whether it ended), its people, the
// assistant's transcript and the chat. Holding them open is also what keeps
// this person present in the room (docs/LIVE.md, Presence). The stage —
// everyone's tiles, cameras, microphones and screen shares — is media.js and
// the media-*.js modules it puts together.

import { Live } from './live.js';
import { Media } from './media.js';
import { HostControls } from './host-controls.js';
import { Favourites } from './favourites.js';
import { SharedTimer } from './timer.js';
import { GoalPanel, goalNodes } from './goals.js';
import { answerNodes, api, element, formatClock, formatTime, initial, sentence } from './app.js';

const room = document.getElementById('room');
const sessionId = room.dataset.sessionId;
const me = room.dataset.userId;
const isCreator = room.dataset.creator === 'true';
const live = new Live();
const $ = (id) => document.getElementById(id);

let ended = false;
let away = false;

/** Says something to screen readers without moving focus. */
function announce(text) {
  const status = $('room-status');
  status.textContent = '';
  // A new text node after a tick is announced even when the words repeat.
  requestAnimationFrame(() => {
    status.textContent = text;
  });
}

const media = new Media({ live, sessionId, me, announce });

const controls = new HostControls({ sessionId, me, isHost: isCreator, announce, onRemoved: showRemoved });
const favourites = new Favourites({ me, tell: (text, failed) => controls.tell(text, failed) });

// Quiet work: a work block starting mutes this page's microphone; unmuting is
// up to the person, and a break forces nothing.
const timer = new SharedTimer({
  sessionId,
  announce,
  onWorkStart: () => {
    if (media.devices.micOn()) media.devices.toggleMicrophone();
  },
});

// Goals: set on joining, seen by everyone; leaving first asks how it went.
const leaveForm = $('leave-form');
const goals = new GoalPanel({ sessionId, announce, leave: () => leaveForm.submit() });
leaveForm.addEventListener('submit', (event) => {
  if (!goals.wantsCheckOut()) return;
  event.preventDefault();
  goals.openCheckOut(true);
});

// ---- Tabs ----------------------------------------------------------------------

const tabs = [...document.querySelectorAll('[role="tab"]')];

function select(tab, focus) {
  for (const other of tabs) {
    const selected = other === tab;
    other.setAttribute('aria-selected', String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(other.getAttribute('aria-controls')).hidden = !selected;
  }
  if (focus) tab.focus();
  if (tab.id === 'tab-chat') {
    unread.chat = 0;
    scrollChatToEnd();
  }
  if (tab.id === 'tab-ai') unread.ai = 0;
  showUnread();
}

for (const tab of tabs) {
  tab.addEventListener('click', () => select(tab, false));
  tab.addEventListener('keydown', (event) => {
    const index = tabs.indexOf(tab);
    const next = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    select(tabs[(next + tabs.length) % tabs.length], true);
  });
}

const selected = (id) => $(id).getAttribute('aria-selected') === 'true';
const unread = { chat: 0, ai: 0 };

function showUnread() {
  for (const [name, count] of Object.entries(unread)) {
    const badge = $(`${name}-unread`);
    badge.hidden = count === 0;
    badge.textContent = count ? String(count) : '';
    badge.setAttribute('aria-label', count ? `${count} new` : '');
  }
}

// ---- The session ---------------------------------------------------------------

const AGENT_WORDS = { off: 'Off', joining: 'Joining', listening: 'Listening', thinking: 'Thinking', speaking: 'Speaking' };
let switching = false;

live.subscribe(`session:${sessionId}`, (session) => {
  timer.follow(session);
  for (const seats of document.querySelectorAll('[data-seats]')) {
    seats.textContent = `${session.participant_count} of ${session.max_participants}`;
  }
  for (const badge of document.querySelectorAll('[data-ai-badge]')) {
    badge.textContent = session.ai_agent_enabled ? 'AI on' : 'AI off';
    badge.className = `badge ${session.ai_agent_enabled ? 'badge-ai' : 'badge-muted'}`;
  }
  const pill = $('agent-status');
  const state = session.agent_status || (session.ai_agent_enabled ? 'joining' : 'off');
  if (pill.dataset.status !== state) {
    pill.dataset.status = state;
    pill.textContent = AGENT_WORDS[state] || state;
  }
  const toggle = $('ai-switch');
  if (toggle && !switching) toggle.checked = session.ai_agent_enabled;
  controls.followSession(session);
  if (session.status === 'ended') showEnded();
});

/** The host removed me: everything of mine in the room stops, and the room says why. */
function showRemoved() {
  away = true;
  media.stop();
  $('room-away').hidden = true;
  $('room-removed').hidden = false;
  for (const control of room.querySelectorAll('.chat-form textarea, .chat-form button, .vote')) control.disabled = true;
  room.querySelector('.control-buttons').hidden = true;
  $('room-removed').querySelector('a').focus();
}

function showEnded() {
  if (ended) return;
  ended = true;
  media.stop();
  goals.end();
  $('room-away').hidden = true;
  $('room-ended').hidden = false;
  for (const control of room.querySelectorAll('.chat-form textarea, .chat-form button, #ai-switch, .vote')) {
    control.disabled = true;
  }
  // Nothing is left to leave or end.
  room.querySelector('.control-buttons').hidden = true;
  for (const badge of room.querySelectorAll('.badge-live')) {
    badge.className = 'badge badge-muted';
    badge.textContent = 'Ended';
  }
  const endDialog = $('end-dialog');
  if (endDialog && endDialog.open) endDialog.close();
  $('room-ended').querySelector('a').focus();
}

// ---- People ----------------------------------------------------------------------

let knownPresent = null;

live.subscribe(`participants:${sessionId}`, (people) => {
  const present = people.filter((person) => person.status === 'joined');
  media.setPeople(present);
  drawPeople(people);
  $('people-count').textContent = String(present.length);
  const names = new Map(present.map((person) => [person.user_id, person.name]));
  if (knownPresent) {
    const arrived = [...names].filter(([id]) => !knownPresent.has(id)).map(([, name]) => `${name} joined.`);
    const gone = [...knownPresent].filter(([id]) => !names.has(id)).map(([, name]) => `${name} left.`);
    if (arrived.length || gone.length) announce([...arrived, ...gone].join(' '));
  }
  knownPresent = names;
  const mine = people.find((person) => person.user_id === me);
  goals.follow(mine);
  if (!ended && controls.followPeople(people)) return;
  if (!ended && mine && mine.status === 'left' && !away) {
    away = true;
    media.stop();
    $('room-away').hidden = false;
  }
});

function badgeFor(role) {
  if (role === 'host') return element('span', 'badge badge-role', 'Host');
  if (role === 'agent') return element('span', 'badge badge-agent', 'AI agent');
  return null;
}

function drawPeople(people) {
  $('people').replaceChildren(
    ...people.map((person) => {
      const item = element('li', `person${person.status === 'left' ? ' person-left' : ''}`);
      const avatar = element('span', 'avatar', initial(person.name));
      avatar.setAttribute('aria-hidden', 'true');
      const name = element('span', 'person-name', person.name);
      if (person.user_id === me) name.append(' ', element('span', 'muted', '(you)'));
      item.append(avatar, name);
      const badge = badgeFor(person.role);
      if (badge) item.append(badge);
      if (person.status === 'left') item.append(element('span', 'muted small', person.removed ? 'removed' : 'left'));
      favourites.decorate(item, person);
      const goal = goalNodes(person);
      if (goal.length) {
        const box = element('div', 'person-goals');
        box.append(...goal);
        item.append(box);
      }
      controls.decorate(item, person);
      return item;
    }),
  );
}

// ---- The assistant -------------------------------------------------------------------

const toggle = $('ai-switch');
if (toggle && isCreator) {
  toggle.addEventListener('change', async () => {
    const error = $('ai-switch-error');
    error.hidden = true;
    switching = true;
    toggle.disabled = true;
    try {
      await api('POST', `/api/sessions/${sessionId}/ai-agent`, { enabled: toggle.checked });
      announce(toggle.checked ? 'AI assistant switched on.' : 'AI assistant switched off.');
    } catch (failure) {
      toggle.checked = !toggle.checked;
      error.textContent = sentence(failure.message);
      error.hidden = false;
    } finally {
      switching = false;
      toggle.disabled = ended;
    }
  });
}

/** My own votes this visit; the asker's own rating also comes with each log. */
const myVotes = new Map();
const exchanges = new Map();
let firstTranscript = true;

live.subscribe(`ai_logs:${sessionId}`, (logs) => {
  const transcript = $('transcript');
  let added = 0;
  for (const log of logs) {
    let item = exchanges.get(log.id);
    if (!item) {
      item = drawExchange(log);
      exchanges.set(log.id, item);
      transcript.append(item);
      added += 1;
    }
    updateVotes(item, log);
  }
  $('transcript-empty').hidden = logs.length > 0;
  if (!firstTranscript && added && !selected('tab-ai')) {
    unread.ai += added;
    showUnread();
  }
  firstTranscript = false;
});

function drawExchange(log) {
  const item = element('li', `exchange${log.error ? ' exchange-failed' : ''}`);
  item.dataset.logId = log.id;
  const question = element('p', 'question');
  question.append(element('span', 'visually-hidden', 'Question: '), log.question);
  const answer = element('div', 'answer');
  answer.append(element('span', 'visually-hidden', 'Answer: '));
  if (log.error) answer.append(element('p', 'answer-text', `The assistant could not answer: ${log.error}`));
  else answer.append(...answerNodes(log.answer));
  const meta = element('p', 'exchange-meta');
  const time = element('time', '', formatTime(log.created_at));
  time.dateTime = log.created_at;
  // An entry a person logged by hand is theirs, not the assistant's words.
  const how = log.logged_by === 'person' ? 'logged by hand' : log.trigger === 'voice' ? 'asked out loud' : 'typed';
  meta.append(time, ` · ${how}`);
  const votes = element('div', 'votes');
  votes.setAttribute('role', 'group');
  votes.setAttribute('aria-label', 'Was this answer helpful?');
  for (const helpful of [true, false]) {
    const button = element('button', 'btn btn-secondary vote');
    button.type = 'button';
    button.dataset.helpful = String(helpful);
    button.disabled = ended;
    button.addEventListener('click', () => vote(log.id, helpful, item));
    votes.append(button);
  }
  item.append(question, answer, meta, votes);
  return item;
}

function updateVotes(item, log) {
  const mine = myVotes.has(log.id) ? myVotes.get(log.id) : log.user_id === me ? log.helpful : null;
  for (const button of item.querySelectorAll('.vote')) {
    const helpful = button.dataset.helpful === 'true';
    const count = helpful ? log.helpful_votes : log.unhelpful_votes;
    button.textContent = `${helpful ? 'Helpful' : 'Not helpful'} · ${count}`;
    button.setAttribute('aria-pressed', String(mine === helpful));
  }
}

async function vote(logId, helpful, item) {
  try {
    const log = await api('POST', `/api/ai-logs/${logId}/feedback`, { helpful });
    myVotes.set(logId, helpful);
    updateVotes(item, log);
  } catch (failure) {
    announce(sentence(failure.message));
  }
}

// ---- Chat ------------------------------------------------------------------------

const chatLog = $('chat-log');
const messages = new Map();
let firstChat = true;

function nearEnd(panel) {
  return panel.scrollHeight - panel.scrollTop - panel.clientHeight < 80;
}

function scrollChatToEnd() {
  const panel = $('panel-chat');
  panel.scrollTop = panel.scrollHeight;
}

live.subscribe(`chat:${sessionId}`, (page) => {
  const panel = $('panel-chat');
  const stick = firstChat || nearEnd(panel);
  const keep = new Set(page.messages.map((message) => message.id));
  for (const [id, item] of messages) {
    if (!keep.has(id)) {
      item.remove();
      messages.delete(id);
    }
  }
  let fromOthers = 0;
  for (const message of page.messages) {
    if (messages.has(message.id)) continue;
    const item = element('li', `message${message.user_id === me ? ' message-mine' : ''}`);
    item.dataset.messageId = message.id;
    const time = element('time', 'message-time', formatClock(message.created_at));
    time.dateTime = message.created_at;
    item.append(element('span', 'message-name', message.name), ' ', time, element('p', 'message-body', message.body));
    chatLog.append(item);
    messages.set(message.id, item);
    if (message.user_id !== me) fromOthers += 1;
  }
  $('chat-empty').hidden = page.messages.length > 0;
  if (!firstChat && fromOthers && !selected('tab-chat')) {
    unread.chat += fromOthers;
    showUnread();
  }
  if (stick) scrollChatToEnd();
  firstChat = false;
});

const chatForm = $('chat-form');
const chatInput = $('chat-input');
const chatError = $('chat-error');
const maxChars = Number(chatInput.dataset.maxChars);

function chatProblem(text) {
  if (!text.trim()) return 'Write a message first.';
  if ([...text.trim()].length > maxChars) return `Must be at most ${maxChars} characters.`;
  return '';
}

function showChatError(message) {
  chatError.textContent = message;
  chatError.hidden = !message;
  chatInput.setAttribute('aria-invalid', message ? 'true' : 'false');
}

chatInput.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    chatForm.requestSubmit();
  }
});
chatInput.addEventListener('input', () => {
  if (chatInput.getAttribute('aria-invalid') === 'true') showChatError('');
});

chatForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = chatInput.value;
  const problem = chatProblem(body);
  showChatError(problem);
  if (problem) return;
  const send = chatForm.querySelector('button');
  send.disabled = true;
  try {
    await api('POST', `/api/sessions/${sessionId}/messages`, { body });
    chatInput.value = '';
    scrollChatToEnd();
  } catch (failure) {
    showChatError(sentence(failure.message));
  } finally {
    send.disabled = ended;
    chatInput.focus();
  }
});
