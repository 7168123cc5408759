// Home: keeps "With your favourites", "Active now" and "Upcoming" current.
// The live query says what the last two hold; when that differs from what is
// shown, the server draws the list again (it knows the hosts' and projects'
// names) and it is swapped in. Who is whose favourite is the viewer's own, so
// "With your favourites" has no live query: it is asked for again whenever
// either list changes, which is when a session with a favourite can start,
// fill up, end or be planned, and swapped in if it differs.

import { Live } from './live.js';
import { localizeTimes } from './app.js';

const live = new Live();
const announcer = document.getElementById('home-status');

/** What a card shows that can change; the same text as the card's data-signature. */
const signature = (session) =>
  [session.id, session.status, session.participant_count, session.max_participants, session.ai_agent_enabled].join(':');

/** What a list container shows now: its cards' signatures. */
const shownIn = (container) => [...container.querySelectorAll('[data-signature]')].map((card) => card.dataset.signature).join('|');

/** Puts a list the server drew in place of `container`'s, keeping focus on the same card. */
function swapIn(container, html, name) {
  const before = new Set([...container.querySelectorAll('[data-id]')].map((card) => card.dataset.id));
  const focused = document.activeElement && container.contains(document.activeElement)
    ? document.activeElement.closest('[data-id]')?.dataset.id
    : null;
  container.innerHTML = html;
  localizeTimes(container);
  if (focused) {
    const again = container.querySelector(`[data-id="${focused}"] a, [data-id="${focused}"] button`);
    if (again) again.focus();
  }
  const added = [...container.querySelectorAll('[data-id]')].filter((card) => !before.has(card.dataset.id));
  if (added.length && announcer) {
    const titles = added.map((card) => card.querySelector('.session-title')?.textContent.trim()).filter(Boolean);
    const what = { favourites: 'With your favourites', active: 'New session', upcoming: 'Newly planned' }[name];
    announcer.textContent = `${what}: ${titles.join(', ')}`;
  }
}

async function drawn(name) {
  const response = await fetch(`/home/${name}`, { credentials: 'same-origin' });
  return response.ok ? response.text() : null;
}

/** "With your favourites": drawn again on every change of the live lists. */
function favouritesList() {
  const container = document.querySelector('[data-list="favourites"]');
  let drawing = false;
  let again = false;
  return async function changed() {
    if (!container) return;
    if (drawing) {
      again = true;
      return;
    }
    drawing = true;
    try {
      do {
        again = false;
        const html = await drawn('favourites');
        if (html === null) break;
        const fresh = document.createElement('div');
        fresh.innerHTML = html;
        if (shownIn(fresh) !== shownIn(container)) swapIn(container, html, 'favourites');
      } while (again);
    } finally {
      drawing = false;
    }
  };
}

const favouritesChanged = favouritesList();

function watch(name, query) {
  const container = document.querySelector(`[data-list="${name}"]`);
  if (!container) return;
  let wanted = null;
  let drawing = false;

  async function redraw() {
    if (drawing) return;
    drawing = true;
    try {
      while (wanted !== null && wanted !== shownIn(container)) {
        const target = wanted;
        const html = await drawn(name);
        if (html === null) break;
        swapIn(container, html, name);
        // The server drew a newer state than asked for: nothing more to do.
        if (target === wanted) break;
      }
    } finally {
      drawing = false;
    }
  }

  live.subscribe(query, (data) => {
    wanted = data.sessions.map(signature).join('|');
    if (wanted !== shownIn(container)) redraw();
    favouritesChanged();
  });
}

watch('active', 'sessions:active');
watch('upcoming', 'sessions:upcoming');
