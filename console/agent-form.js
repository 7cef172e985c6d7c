// The agent form: create (POST /admin/agents) or edit (PATCH /admin/agents/:id, a JSON merge
// patch of the fields changed, RFC 7396). The server checks every value; its 400 names the field.
import { el } from './dom.js';
import { editorForm } from './editor.js';

const DEFAULT_GRANTS = 'client_credentials';

/** "target scope scope" per line ⇄ { target: [scopes] }. */
const audiencesText = (audiences = {}) => Object.entries(audiences).map(([t, scopes]) => `${t} ${scopes.join(' ')}`).join('\n');
function audiencesOf(text) {
  const out = {};
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const [target, ...scopes] = line.split(/\s+/);
    out[target] = [...(out[target] ?? []), ...scopes];
  }
  return out;
}
const words = (text) => text.split(/[\s,]+/).filter(Boolean);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** RFC 7396 for one level of object: a target left out is removed (null), a changed one replaced. */
function audiencesPatch(before, after) {
  const patch = {};
  for (const t of Object.keys(before)) if (!Object.hasOwn(after, t)) patch[t] = null;
  for (const [t, scopes] of Object.entries(after)) if (!same(before[t], scopes)) patch[t] = scopes;
  return patch;
}

function field(label, input, hint) {
  return el('label', {}, label, input, hint ? el('span', { class: 'hint' }, hint) : null);
}

/**
 * The form for `agent` (null: a new one). `submit(body)` sends it and throws the API's error;
 * `done()` closes the form. Returns the form element.
 */
export function agentForm(agent, { submit, done }) {
  const a = agent ?? {};
  const input = (name, value, attrs = {}) => el('input', { name, value: value ?? '', spellcheck: 'false', ...attrs });
  const id = agent ? null : input('id', '', { required: true, maxlength: 200 });
  const owner = input('owner', a.owner, { required: true, maxlength: 200 });
  const description = input('description', a.description, { maxlength: 500 });
  const audiences = el('textarea', { name: 'audiences', rows: 3, spellcheck: 'false' });
  audiences.value = audiencesText(a.audiences);
  const delegates = input('delegates', (a.delegates ?? []).join(' '));
  const grantTypes = input('grantTypes', (a.grantTypes ?? [DEFAULT_GRANTS]).join(' '));
  // empty on a new agent: the server's defaults apply
  const ttl = input('maxTokenTtlSeconds', a.maxTokenTtlSeconds, { type: 'number', min: 1, placeholder: 'default' });
  const depth = input('maxDelegationDepth', a.maxDelegationDepth, { type: 'number', min: 0, placeholder: 'default' });
  const dpop = el('input', { name: 'requireDpop', type: 'checkbox', checked: a.requireDpop === true });

  const number = (i) => (i.value.trim() === '' ? undefined : Number(i.value));

  function values() {
    return {
      owner: owner.value.trim(), description: description.value.trim(), audiences: audiencesOf(audiences.value),
      delegates: words(delegates.value), grantTypes: words(grantTypes.value), maxTokenTtlSeconds: number(ttl),
      maxDelegationDepth: number(depth), requireDpop: dpop.checked,
    };
  }

  /** A new agent: every field; an edit: only what changed, as a merge patch. */
  function body() {
    const v = values();
    if (!agent) {
      const body = { id: id.value.trim() };
      for (const [k, value] of Object.entries(v)) if (value !== undefined && value !== '') body[k] = value;
      return body;
    }
    const patch = {};
    for (const [k, value] of Object.entries(v)) {
      if (k === 'audiences') {
        const p = audiencesPatch(a.audiences ?? {}, value);
        if (Object.keys(p).length) patch.audiences = p;
      } else if (k === 'description') {
        if ((a.description ?? '') !== value) patch.description = value || null;
      } else if (value !== undefined && !same(a[k], value)) {
        patch[k] = value;
      }
    }
    return patch;
  }

  return editorForm({
    title: agent ? `Edit ${agent.id}` : 'New agent',
    fields: [
      id ? field('Id', id) : null,
      field('Owner', owner, 'who is accountable'),
      field('Description', description),
      field('Entitlements', audiences, 'one line per target: the target, then its scopes'),
      field('Delegates', delegates, 'agent ids that may act for it'),
      field('Grant types', grantTypes),
      field('Longest token (s)', ttl),
      field('Delegation depth', depth),
      el('label', { class: 'check' }, dpop, ' Require DPoP'),
    ],
    submitLabel: agent ? 'Save' : 'Create agent',
    body,
    submit,
    done,
  });
}
