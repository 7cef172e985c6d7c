// The form panel both registry pages share: above the list, a "New …" button (for an admin with
// agents:manage) that becomes a form; the form shows the server's refusal, which names the
// field, and closes once saved.
import { can } from './api.js';
import { el } from './dom.js';

/** A form titled `title`: its fields, the server's error, Save and Cancel; on submit `submit(body())`, then `done()`. */
export function editorForm({ title, fields, submitLabel, body, submit, done }) {
  const error = el('p', { class: 'error', role: 'alert' });
  const form = el('form', { class: 'card editor', 'aria-label': title },
    el('h3', {}, title),
    el('div', { class: 'grid' }, fields),
    error,
    el('div', { class: 'actions' },
      el('button', { type: 'submit' }, submitLabel),
      el('button', { type: 'button', onclick: () => done() }, 'Cancel')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      await submit(body());
      done();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  return form;
}

/**
 * The slot above a list: `open(record)` shows `makeForm(record, done)` (null: a new one) with the
 * focus in it; `done` puts the "New …" button back. `clear()` empties the slot (leaving the page).
 */
export function editorSlot(slot, newLabel, makeForm) {
  const close = () => slot.replaceChildren(can('agents:manage') ? el('button', { type: 'button', onclick: () => open(null) }, newLabel) : '');
  const open = (record) => {
    const form = makeForm(record, () => {
      close();
      slot.querySelector('button')?.focus();
    });
    slot.replaceChildren(form);
    form.querySelector('input').focus();
  };
  close();
  return { open, clear: () => slot.replaceChildren() };
}
