// Home: keeps "Active now" and "Upcoming" current. The live query says what
// the lists hold; when that differs from what is shown, the server draws the
// list again (it knows the hosts' and projects' names) and it is swapped in.

import { Live } from './live.js';
import { localizeTimes } from './app.js';

const live = new Live();
const announcer = document.getElementById('home-status');

/** What a card shows that can change; the same text as the card's data-signature. */
const signature = (session) =>
  [session.id, session.status, session.participant_count, session.max_participants, session.ai_agent_enabled].join(':');

function watch(name, query) {
  const container = document.querySelector(`[data-list="${name}"]`);
  if (!container) return;
  let wanted = null;
  let drawing = false;

  const shown = () => [...container.querySelectorAll('[data-signature]')].map((card) => card.dataset.signature).join('|');

  async function redraw() {
    if (drawing) return;
    drawing = true;
    try {
      while (wanted !== null && wanted !== shown()) {
        const target = wanted;
        const response = await fetch(`/home/${name}`, { credentials: 'same-origin' });
        if (!response.ok) break;
        const html = await response.text();
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
          announcer.textContent = `${name === 'active' ? 'New session' : 'Newly planned'}: ${titles.join(', ')}`;
        }
        // The server drew a newer state than asked for: nothing more to do.
        if (target === wanted) break;
      }
    } finally {
      drawing = false;
    }
  }

  live.subscribe(query, (data) => {
    wanted = data.sessions.map(signature).join('|');
    if (wanted !== shown()) redraw();
  });
}

watch('active', 'sessions:active');
watch('upcoming', 'sessions:upcoming');
