// Small DOM helpers. Data only ever reaches the page as text (textContent), never as HTML.

/** el('li', { class: 'x', 'data-sid': sid }, 'text', child): attributes are set as attributes, children as text or nodes. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Replaces a container's content, keeping keyboard focus on the element with the same data-key. */
export function replaceKeepingFocus(container, ...nodes) {
  const key = container.contains(document.activeElement) ? document.activeElement.getAttribute('data-key') : null;
  container.replaceChildren(...nodes);
  if (key) container.querySelector(`[data-key="${CSS.escape(key)}"]`)?.focus();
}

const statusLine = () => document.getElementById('status');

/** One line of feedback, read out by screen readers (role=status). */
export function say(text, kind = 'info') {
  const s = statusLine();
  s.textContent = text;
  s.dataset.kind = kind;
}

/**
 * The confirm dialog (a modal <dialog>: focus moves into it, Escape cancels). Resolves true only
 * when the admin presses the confirm button.
 */
export function confirmAction(message, okLabel, extra) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = message;
  document.getElementById('confirm-extra').replaceChildren(...(extra ? [extra] : []));
  const ok = document.getElementById('confirm-ok');
  const cancel = document.getElementById('confirm-cancel');
  ok.textContent = okLabel;
  const opener = document.activeElement;
  return new Promise((resolve) => {
    const done = (answer) => {
      ok.removeEventListener('click', onOk);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('close', onCancel);
      if (dialog.open) dialog.close();
      if (opener && document.contains(opener)) opener.focus();
      resolve(answer);
    };
    const onOk = () => done(true);
    const onCancel = () => done(false);
    ok.addEventListener('click', onOk);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('close', onCancel);
    dialog.showModal();
    cancel.focus();
  });
}

/** Runs an admin action: a failure is said on the status line ("<what> failed: …"); `after` (a refresh) runs either way. */
export async function act(what, fn, after) {
  try {
    await fn();
  } catch (err) {
    say(`${what} failed: ${err.message}`, 'error');
  }
  await after();
}

/** A short, readable age: "3 d", "5 h", "12 min", "40 s". */
export function age(iso, nowMs = Date.now()) {
  const s = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (s >= 86_400) return `${Math.floor(s / 86_400)} d`;
  if (s >= 3_600) return `${Math.floor(s / 3_600)} h`;
  if (s >= 60) return `${Math.floor(s / 60)} min`;
  return `${s} s`;
}

/** Local time of an ISO instant, to the second. */
export const localTime = (iso) => new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });

/** "1 session", "3 sessions". */
export const plural = (n, noun) => `${n} ${noun}${n === 1 ? '' : 's'}`;
