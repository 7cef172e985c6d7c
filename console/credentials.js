// Credentials of agents and resource servers alike: the one-line summary, the rotation dialog, the
// "shown once" box of a new secret.
import { age, confirmAction, el, localTime } from './dom.js';

export function credentialsLine(credentials) {
  if (!credentials.length) return 'no credentials';
  return credentials.map((c) => `${c.type}${c.id === c.type ? '' : ` ${c.id}`}, ${age(c.created)} old${c.expires ? `, valid until ${localTime(c.expires)}` : ''}`).join(' · ');
}

const OVERLAPS = [[0, 'none: the previous secret stops working now'], [3_600, '1 hour'], [86_400, '1 day'], [604_800, '7 days']];

/**
 * Asks for a rotation of `id`'s secret and, if confirmed, makes it with `rotate(body)`
 * (POST …/:id/credentials); resolves the new secret and a line saying when the previous one stops,
 * or null when cancelled.
 */
export async function rotateSecret(id, rotate) {
  const select = el('select', { id: 'overlap' }, OVERLAPS.map(([s, label]) => el('option', { value: s }, label)));
  const extra = el('label', {}, 'Previous secret keeps working for ', select);
  if (!(await confirmAction(`Rotate the secret of ${id}? A new secret is generated and shown once.`, 'Rotate secret', extra))) return null;
  const answer = await rotate({ type: 'secret', overlapSeconds: Number(select.value) });
  const overlap = Number(select.value) > 0 && answer.previousValidUntil;
  return {
    secret: answer.client_secret,
    line: `Secret of ${id} rotated; ${overlap ? `the previous one works until ${localTime(answer.previousValidUntil)}` : 'the previous one no longer works'}.`,
  };
}

/** The "shown once" box of a new secret, with its Done button. */
export const secretBox = (id, secret, onDone) => el('div', { class: 'secret', role: 'alert' },
  el('p', {}, `New secret for ${id}: shown once, store it now.`), el('code', {}, secret),
  el('button', { type: 'button', onclick: onDone }, 'Done'));
