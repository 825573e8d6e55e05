// The Kindling console: a hash-routed single-page app over Kindling's own
// public API (SigV4-signed in the browser). Pages: functions, one function
// (configuration, code, test, asynchronous, monitor, logs, versions), hosts.
import { Api, ApiError, clearSession, encodeBase64, loadSession, saveSession, type EventInvokeConfig, type FailedEvent, type FunctionConfiguration, type LogEvent, type Session } from './api.js';
import { lineChart } from './charts.js';
import { clear, fmtAgo, fmtBytes, fmtTime, h, logText } from './dom.js';
import { listZip } from './zip.js';

const RUNTIMES = ['nodejs22.x', 'nodejs20.x', 'nodejs18.x', 'python3.13', 'python3.12', 'python3.11', 'python3.10', 'python3.9', 'provided.al2023', 'provided.al2', 'provided'];

const root = document.getElementById('app')!;
let api: Api | undefined;
/** Timers and listeners of the page on screen; cleared on every route change. */
let disposers: (() => void)[] = [];

const every = (ms: number, fn: () => void): void => {
  const t = setInterval(fn, ms);
  disposers.push(() => clearInterval(t));
};

function errorText(err: unknown): string {
  if (err instanceof ApiError) return `${err.type}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

function notice(kind: 'error' | 'ok', text: string): HTMLElement {
  return h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

/** Runs an action, showing its failure (or success text) in `where`. */
async function act(where: HTMLElement, fn: () => Promise<string | void>): Promise<void> {
  clear(where);
  try {
    const ok = await fn();
    if (ok) where.appendChild(notice('ok', ok));
  } catch (err) {
    where.appendChild(notice('error', errorText(err)));
  }
}

// --- shell and routing ---

function shell(content: HTMLElement, current: string): HTMLElement {
  const session = loadSession();
  return h(
    'div',
    { class: 'shell' },
    h(
      'header',
      null,
      h('a', { class: 'brand', href: '#/functions' }, h('span', { class: 'flame' }, '▲'), ' Kindling'),
      h(
        'nav',
        null,
        h('a', { href: '#/functions', class: current === 'functions' ? 'active' : '' }, 'Functions'),
        h('a', { href: '#/hosts', class: current === 'hosts' ? 'active' : '' }, 'Hosts'),
      ),
      h(
        'div',
        { class: 'who' },
        session ? `${session.accessKeyId} · ${session.region}` : '',
        h(
          'button',
          {
            class: 'link',
            id: 'signout',
            onclick: () => {
              clearSession();
              api = undefined;
              location.hash = '#/';
              route();
            },
          },
          'Sign out',
        ),
      ),
    ),
    h('main', null, content),
  );
}

function route(): void {
  for (const d of disposers) d();
  disposers = [];
  const session = loadSession();
  if (!session) {
    root.replaceChildren(signInPage());
    return;
  }
  api ??= new Api(session);
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const main = h('div');
  if (parts[0] === 'hosts') {
    root.replaceChildren(shell(main, 'hosts'));
    void hostsPage(main);
  } else if (parts[0] === 'functions' && parts[1]) {
    root.replaceChildren(shell(main, 'functions'));
    void functionPage(main, parts[1], parts[2] ?? 'configuration');
  } else {
    root.replaceChildren(shell(main, 'functions'));
    void functionsPage(main);
  }
}

window.addEventListener('hashchange', route);

// --- sign in ---

function signInPage(): HTMLElement {
  const msg = h('div');
  const id = h('input', { id: 'access-key-id', name: 'accessKeyId', autocomplete: 'username', required: true, placeholder: 'AKKL...' });
  const secret = h('input', { id: 'secret-access-key', name: 'secretAccessKey', type: 'password', autocomplete: 'current-password', required: true });
  const region = h('input', { id: 'region', name: 'region', value: 'us-east-1', required: true });
  const form = h(
    'form',
    {
      class: 'card signin',
      id: 'signin',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const s: Session = { accessKeyId: id.value.trim(), secretAccessKey: secret.value.trim(), region: region.value.trim() || 'us-east-1' };
        void act(msg, async () => {
          await new Api(s).listFunctions();
          saveSession(s);
          api = new Api(s);
          if (!location.hash || location.hash === '#/') location.hash = '#/functions';
          else route();
        });
      },
    },
    h('h1', null, h('span', { class: 'flame' }, '▲'), ' Kindling console'),
    h('p', { class: 'muted' }, 'Sign in with an access key of this Kindling server (', h('code', null, 'kindling up'), ' prints where the root key is). The key stays in this browser tab only.'),
    h('label', null, 'Access key ID', id),
    h('label', null, 'Secret access key', secret),
    h('label', null, 'Region', region),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    msg,
  );
  return h('div', { class: 'center' }, form);
}

// --- functions list ---

async function functionsPage(main: HTMLElement): Promise<void> {
  const a = api!;
  const table = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  main.append(
    h('div', { class: 'title-row' }, h('h1', null, 'Functions'), h('button', { id: 'refresh', onclick: () => void load() }, 'Refresh')),
    table,
    createForm(),
  );
  const load = async () => {
    try {
      const [fns, totals] = await Promise.all([a.listFunctions(), a.metricsTotals(60).catch(() => ({}) as Record<string, never>)]);
      fns.sort((x, y) => x.FunctionName.localeCompare(y.FunctionName));
      if (fns.length === 0) {
        table.replaceChildren(h('p', { class: 'empty' }, 'No functions yet: create one below from a .zip.'));
        return;
      }
      table.replaceChildren(
        h(
          'table',
          { class: 'list', id: 'functions' },
          h('thead', null, h('tr', null, ['Name', 'State', 'Runtime', 'Memory', 'Last modified', 'Invocations (1 h)', 'Errors (1 h)'].map((c, i) => h('th', { class: i === 3 || i >= 5 ? 'num' : '' }, c)))),
          h(
            'tbody',
            null,
            fns.map((f) => {
              const t = (totals as Record<string, { invocations: number; errors: number }>)[f.FunctionName];
              return h(
                'tr',
                { 'data-function': f.FunctionName },
                h('td', null, h('a', { href: `#/functions/${encodeURIComponent(f.FunctionName)}` }, f.FunctionName)),
                h('td', null, stateBadge(f)),
                h('td', null, f.Runtime ?? f.PackageType ?? ''),
                h('td', { class: 'num' }, `${f.MemorySize} MB`),
                h('td', { title: f.LastModified }, fmtAgo(f.LastModified)),
                h('td', { class: 'num invocations' }, String(t?.invocations ?? 0)),
                h('td', { class: `num errors${t?.errors ? ' bad' : ''}` }, String(t?.errors ?? 0)),
              );
            }),
          ),
        ),
      );
    } catch (err) {
      table.replaceChildren(notice('error', errorText(err)));
    }
  };
  await load();
  every(15_000, () => void load());
}

function stateBadge(f: FunctionConfiguration): HTMLElement {
  const state = f.State ?? 'Active';
  return h('span', { class: `badge ${state.toLowerCase()}`, title: f.StateReason ?? '' }, state);
}

function createForm(): HTMLElement {
  const msg = h('div');
  const name = h('input', { id: 'new-name', required: true, pattern: '[a-zA-Z0-9_-]{1,64}', placeholder: 'my-function' });
  const runtime = h('select', { id: 'new-runtime' }, RUNTIMES.map((r) => h('option', { value: r }, r)));
  const handler = h('input', { id: 'new-handler', value: 'index.handler', required: true });
  const memory = h('input', { id: 'new-memory', type: 'number', min: 128, max: 10240, value: 128 });
  const timeout = h('input', { id: 'new-timeout', type: 'number', min: 1, max: 900, value: 3 });
  const role = h('input', { id: 'new-role', value: 'arn:aws:iam::000000000000:role/kindling-console', required: true });
  const zip = h('input', { id: 'new-zip', type: 'file', accept: '.zip,application/zip', required: true });
  runtime.addEventListener('change', () => {
    if (runtime.value.startsWith('python')) handler.value = 'lambda_function.lambda_handler';
    else if (runtime.value.startsWith('provided')) handler.value = 'bootstrap';
    else handler.value = 'index.handler';
  });
  return h(
    'form',
    {
      class: 'card',
      id: 'create-function',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        void act(msg, async () => {
          const file = zip.files?.[0];
          if (!file) throw new Error('Choose a .zip with the code.');
          const bytes = new Uint8Array(await file.arrayBuffer());
          const fn = await api!.createFunction({
            FunctionName: name.value.trim(),
            Runtime: runtime.value,
            Handler: handler.value.trim(),
            MemorySize: Number(memory.value),
            Timeout: Number(timeout.value),
            Role: role.value.trim(),
            Code: { ZipFile: encodeBase64(bytes) },
          });
          location.hash = `#/functions/${encodeURIComponent(fn.FunctionName)}/test`;
        });
      },
    },
    h('h2', null, 'Create a function'),
    h(
      'div',
      { class: 'grid' },
      h('label', null, 'Name', name),
      h('label', null, 'Runtime', runtime),
      h('label', null, 'Handler', handler),
      h('label', null, 'Memory (MB)', memory),
      h('label', null, 'Timeout (s)', timeout),
      h('label', null, 'Role', role),
      h('label', { class: 'wide' }, 'Code (.zip)', zip),
    ),
    h('button', { type: 'submit', class: 'primary' }, 'Create function'),
    msg,
  );
}

// --- one function ---

const TABS: [string, string][] = [
  ['configuration', 'Configuration'],
  ['code', 'Code'],
  ['test', 'Test'],
  ['async', 'Asynchronous'],
  ['monitor', 'Monitor'],
  ['logs', 'Logs'],
  ['versions', 'Versions & aliases'],
];

async function functionPage(main: HTMLElement, name: string, tab: string): Promise<void> {
  const body = h('div', { class: 'tab-body' }, h('p', { class: 'muted' }, 'Loading…'));
  const link = (t: string) => `#/functions/${encodeURIComponent(name)}/${t}`;
  main.append(
    h('div', { class: 'crumbs' }, h('a', { href: '#/functions' }, 'Functions'), ' / ', name),
    h('div', { class: 'title-row' }, h('h1', { id: 'function-name' }, name)),
    h('nav', { class: 'tabs' }, TABS.map(([id, label]) => h('a', { href: link(id), class: id === tab ? 'active' : '', 'data-tab': id }, label))),
    body,
  );
  try {
    const fn = await api!.getFunction(name);
    clear(body);
    switch (tab) {
      case 'code':
        return codeTab(body, name, fn.Configuration, fn.Code.Location);
      case 'test':
        return testTab(body, name);
      case 'async':
        return asyncTab(body, name);
      case 'monitor':
        return monitorTab(body, name);
      case 'logs':
        return logsTab(body, name);
      case 'versions':
        return versionsTab(body, name);
      default:
        return configurationTab(body, name, fn.Configuration, fn.Concurrency?.ReservedConcurrentExecutions);
    }
  } catch (err) {
    body.replaceChildren(notice('error', errorText(err)));
  }
}

function kv(rows: [string, Node | string][]): HTMLElement {
  return h('dl', { class: 'kv' }, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

function configurationTab(body: HTMLElement, name: string, c: FunctionConfiguration, reserved: number | undefined): void {
  const msg = h('div');
  const description = h('input', { id: 'cfg-description', value: c.Description ?? '' });
  const runtime = h('select', { id: 'cfg-runtime' }, RUNTIMES.map((r) => h('option', { value: r, selected: r === c.Runtime }, r)));
  const handler = h('input', { id: 'cfg-handler', value: c.Handler ?? '' });
  const memory = h('input', { id: 'cfg-memory', type: 'number', min: 128, max: 10240, value: c.MemorySize });
  const timeout = h('input', { id: 'cfg-timeout', type: 'number', min: 1, max: 900, value: c.Timeout });
  const env = h('textarea', { id: 'cfg-env', rows: 4, placeholder: 'KEY=value, one a line' });
  env.value = Object.entries(c.Environment?.Variables ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
  const form = h(
    'form',
    {
      class: 'card',
      id: 'configuration',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        void act(msg, async () => {
          const vars: Record<string, string> = {};
          for (const line of env.value.split('\n')) {
            const t = line.trim();
            if (!t) continue;
            const i = t.indexOf('=');
            if (i <= 0) throw new Error(`Environment line "${t}" is not KEY=value.`);
            vars[t.slice(0, i)] = t.slice(i + 1);
          }
          const next = await api!.updateConfiguration(name, {
            Description: description.value,
            Runtime: runtime.value,
            Handler: handler.value,
            MemorySize: Number(memory.value),
            Timeout: Number(timeout.value),
            Environment: { Variables: vars },
          });
          return `Saved (revision ${next.RevisionId ?? ''}).`;
        });
      },
    },
    h('h2', null, 'General configuration'),
    kv([
      ['ARN', h('code', null, c.FunctionArn)],
      ['State', stateBadge(c)],
      ['Last modified', `${c.LastModified} (${fmtAgo(c.LastModified)})`],
      ['Role', c.Role],
      ['Architecture', (c.Architectures ?? []).join(', ')],
    ]),
    h(
      'div',
      { class: 'grid' },
      h('label', { class: 'wide' }, 'Description', description),
      h('label', null, 'Runtime', runtime),
      h('label', null, 'Handler', handler),
      h('label', null, 'Memory (MB)', memory),
      h('label', null, 'Timeout (s)', timeout),
      h('label', { class: 'wide' }, 'Environment variables', env),
    ),
    h('button', { type: 'submit', class: 'primary' }, 'Save'),
    msg,
  );
  const cmsg = h('div');
  const conc = h('input', { id: 'cfg-concurrency', type: 'number', min: 0, value: reserved ?? '', placeholder: 'unreserved' });
  const concurrency = h(
    'form',
    {
      class: 'card',
      id: 'concurrency',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        void act(cmsg, async () => {
          await api!.putConcurrency(name, Number(conc.value));
          return `Reserved ${conc.value} concurrent executions.`;
        });
      },
    },
    h('h2', null, 'Concurrency'),
    h('p', { class: 'muted' }, reserved === undefined ? 'Uses the account’s unreserved concurrency.' : `Reserved: ${reserved}.`),
    h('div', { class: 'grid' }, h('label', null, 'Reserved concurrency', conc)),
    h('button', { type: 'submit' }, 'Save'),
    ' ',
    h(
      'button',
      {
        type: 'button',
        onclick: () =>
          void act(cmsg, async () => {
            await api!.deleteConcurrency(name);
            conc.value = '';
            return 'Reservation removed.';
          }),
      },
      'Remove reservation',
    ),
    cmsg,
  );
  body.append(form, concurrency);
}

async function codeTab(body: HTMLElement, name: string, c: FunctionConfiguration, location: string): Promise<void> {
  const files = h('div', null, h('p', { class: 'muted' }, 'Reading the package…'));
  const msg = h('div');
  const zip = h('input', { id: 'code-zip', type: 'file', accept: '.zip,application/zip' });
  body.append(
    h(
      'div',
      { class: 'card' },
      h('h2', null, 'Code package'),
      kv([
        ['Size', fmtBytes(c.CodeSize)],
        ['SHA-256', h('code', null, c.CodeSha256)],
        ['Handler', c.Handler ?? ''],
      ]),
      h('a', { class: 'button', id: 'code-download', href: location, download: `${name}.zip` }, 'Download .zip'),
      h('h3', null, 'Files'),
      files,
    ),
    h(
      'form',
      {
        class: 'card',
        id: 'upload-code',
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          void act(msg, async () => {
            const file = zip.files?.[0];
            if (!file) throw new Error('Choose a .zip.');
            const next = await api!.updateCode(name, encodeBase64(new Uint8Array(await file.arrayBuffer())));
            return `Uploaded: ${fmtBytes(next.CodeSize)}, SHA-256 ${next.CodeSha256}.`;
          });
        },
      },
      h('h2', null, 'Upload new code'),
      h('label', null, 'Code (.zip)', zip),
      h('button', { type: 'submit', class: 'primary' }, 'Upload'),
      msg,
    ),
  );
  try {
    const res = await fetch(location);
    if (!res.ok) throw new Error(`the code link answered ${res.status}`);
    const entries = listZip(new Uint8Array(await res.arrayBuffer()));
    files.replaceChildren(
      h(
        'table',
        { class: 'list', id: 'code-files' },
        h('thead', null, h('tr', null, h('th', null, 'File'), h('th', null, 'Size'))),
        h('tbody', null, entries.map((e) => h('tr', null, h('td', null, h('code', null, e.name)), h('td', { class: 'num' }, fmtBytes(e.size))))),
      ),
    );
  } catch (err) {
    files.replaceChildren(notice('error', errorText(err)));
  }
}

// --- test invoke ---

const eventsKey = (name: string) => `kindling.events.${name}`;
function savedEvents(name: string): Record<string, string> {
  try {
    return JSON.parse(localStorage.getItem(eventsKey(name)) ?? '{}') as Record<string, string>;
  } catch {
    return {};
  }
}

function testTab(body: HTMLElement, name: string): void {
  const payload = h('textarea', { id: 'test-payload', rows: 10, spellcheck: false, class: 'mono' });
  payload.value = '{\n  "key": "value"\n}';
  const eventName = h('input', { id: 'test-event-name', placeholder: 'event name' });
  const picker = h('select', { id: 'test-events' });
  const fill = () => {
    const all = savedEvents(name);
    picker.replaceChildren(h('option', { value: '' }, '— saved events —'), ...Object.keys(all).map((k) => h('option', { value: k }, k)));
  };
  fill();
  picker.addEventListener('change', () => {
    const p = savedEvents(name)[picker.value];
    if (p !== undefined) {
      payload.value = p;
      eventName.value = picker.value;
    }
  });
  const msg = h('div');
  const result = h('div', { id: 'test-result' });
  const run = h('button', { class: 'primary', id: 'test-invoke' }, 'Invoke');
  const invocationType = h(
    'select',
    { id: 'test-type', title: 'Invocation type' },
    h('option', { value: 'RequestResponse' }, 'Synchronous (RequestResponse)'),
    h('option', { value: 'Event' }, 'Asynchronous (Event)'),
  );
  run.addEventListener('click', () => {
    void act(msg, async () => {
      try {
        JSON.parse(payload.value || 'null');
      } catch {
        throw new Error('The payload is not valid JSON.');
      }
      run.setAttribute('disabled', '');
      try {
        if (invocationType.value === 'Event') {
          const q = await api!.invokeEvent(name, payload.value);
          result.replaceChildren(
            h(
              'div',
              { class: 'card result queued', id: 'test-queued' },
              h('h2', null, `Queued (${q.status} Accepted)`),
              h('div', { class: 'facts' }, h('span', null, 'request id ', h('code', { id: 'test-request-id' }, q.requestId))),
              h(
                'p',
                { class: 'muted' },
                'The event runs in the background, with retries as the event invoke config says; see its log in ',
                h('a', { href: `#/functions/${encodeURIComponent(name)}/logs` }, 'Logs'),
                ' and, if it fails for good, its record under ',
                h('a', { href: `#/functions/${encodeURIComponent(name)}/async` }, 'Asynchronous'),
                '.',
              ),
            ),
          );
          return;
        }
        const r = await api!.invoke(name, payload.value);
        let pretty = r.payload;
        try {
          pretty = JSON.stringify(JSON.parse(r.payload), null, 2);
        } catch {
          /* as is */
        }
        result.replaceChildren(
          h(
            'div',
            { class: `card result ${r.functionError ? 'failed' : 'succeeded'}` },
            h('h2', null, r.functionError ? `Failed: ${r.functionError}` : 'Succeeded'),
            h(
              'div',
              { class: 'facts' },
              h('span', { id: 'test-duration' }, `Duration ${r.durationMs !== undefined ? `${r.durationMs.toFixed(2)} ms` : '?'}`),
              h('span', { id: 'test-start', class: `badge ${r.cold ? 'cold' : 'warm'}` }, r.cold ? 'cold start' : 'warm'),
              h('span', null, `version ${r.executedVersion ?? '?'}`),
              h('span', { class: 'muted' }, `round trip ${r.roundTripMs.toFixed(0)} ms`),
            ),
            h('h3', null, 'Response'),
            h('pre', { id: 'test-response', class: 'mono' }, pretty),
            h('h3', null, 'Log (last 4 KB)'),
            h('pre', { id: 'test-log', class: 'mono log' }, logText(r.log)),
          ),
        );
      } finally {
        run.removeAttribute('disabled');
      }
    });
  });
  body.append(
    h(
      'div',
      { class: 'card' },
      h('h2', null, 'Test event'),
      h(
        'div',
        { class: 'row' },
        picker,
        eventName,
        h(
          'button',
          {
            id: 'test-save',
            onclick: () => {
              const key = eventName.value.trim();
              if (!key) return void msg.replaceChildren(notice('error', 'Name the event to save it.'));
              const all = savedEvents(name);
              all[key] = payload.value;
              localStorage.setItem(eventsKey(name), JSON.stringify(all));
              fill();
              picker.value = key;
              msg.replaceChildren(notice('ok', `Saved "${key}".`));
            },
          },
          'Save',
        ),
        h(
          'button',
          {
            onclick: () => {
              const all = savedEvents(name);
              delete all[picker.value];
              localStorage.setItem(eventsKey(name), JSON.stringify(all));
              fill();
            },
          },
          'Delete',
        ),
      ),
      payload,
      h('div', { class: 'row invoke-row' }, run, invocationType),
      msg,
    ),
    result,
  );
}

// --- asynchronous invocation ---

const DEFAULT_RETRIES = 2;
const DEFAULT_MAX_AGE_S = 21600;

function fmtSeconds(s: number): string {
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

/** An optional whole number from a field: undefined when blank, the raw text when not a number (the API says why). */
function optionalInt(input: HTMLInputElement): number | string | undefined {
  const t = input.value.trim();
  if (!t) return undefined;
  return /^-?\d+$/.test(t) ? Number(t) : t;
}

async function asyncTab(body: HTMLElement, name: string): Promise<void> {
  // Event invoke config, per qualifier.
  const qualifier = h('select', { id: 'eic-qualifier' }, h('option', { value: '$LATEST' }, '$LATEST'));
  const current = h('div', { id: 'eic-current' }, h('p', { class: 'muted' }, 'Loading…'));
  const retries = h('input', { id: 'eic-retries', type: 'number', min: 0, max: 2, placeholder: `default ${DEFAULT_RETRIES}` });
  const maxAge = h('input', { id: 'eic-max-age', type: 'number', min: 60, max: 21600, placeholder: `default ${DEFAULT_MAX_AGE_S}` });
  const onSuccess = h('input', { id: 'eic-on-success', placeholder: 'arn:aws:lambda:REGION:ACCOUNT:function:NAME' });
  const onFailure = h('input', { id: 'eic-on-failure', placeholder: 'arn:aws:lambda:REGION:ACCOUNT:function:NAME' });
  const cmsg = h('div');
  const q = () => (qualifier.value === '$LATEST' ? undefined : qualifier.value);

  const showConfig = (c: EventInvokeConfig | undefined, missing?: string) => {
    retries.value = c?.MaximumRetryAttempts !== undefined ? String(c.MaximumRetryAttempts) : '';
    maxAge.value = c?.MaximumEventAgeInSeconds !== undefined ? String(c.MaximumEventAgeInSeconds) : '';
    onSuccess.value = c?.DestinationConfig?.OnSuccess?.Destination ?? '';
    onFailure.value = c?.DestinationConfig?.OnFailure?.Destination ?? '';
    const r = c?.MaximumRetryAttempts ?? DEFAULT_RETRIES;
    const age = c?.MaximumEventAgeInSeconds ?? DEFAULT_MAX_AGE_S;
    const policy = `${r} retr${r === 1 ? 'y' : 'ies'} after a function error; events kept up to ${fmtSeconds(age)}.`;
    current.replaceChildren(
      c
        ? kv([
            ['ARN', h('code', null, c.FunctionArn)],
            ['Last modified', fmtTime(c.LastModified * 1000)],
            ['In effect', policy],
            ['On success', c.DestinationConfig?.OnSuccess?.Destination ?? '—'],
            ['On failure', c.DestinationConfig?.OnFailure?.Destination ?? '— (kept with the failed events below)'],
          ])
        : h('p', { class: 'muted', id: 'eic-none' }, `${missing ?? 'No event invoke config.'} Lambda's defaults apply: ${policy}`),
    );
  };

  const loadConfig = async () => {
    clear(cmsg);
    try {
      showConfig(await api!.getEventInvokeConfig(name, q()));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) showConfig(undefined, err.message);
      else current.replaceChildren(notice('error', errorText(err)));
    }
  };
  qualifier.addEventListener('change', () => void loadConfig());

  const configForm = h(
    'form',
    {
      class: 'card',
      id: 'event-invoke-config',
      // The API checks the ranges and says why, in Lambda's words.
      novalidate: true,
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        void act(cmsg, async () => {
          const input: Record<string, unknown> = {};
          const r = optionalInt(retries);
          const a = optionalInt(maxAge);
          if (r !== undefined) input.MaximumRetryAttempts = r;
          if (a !== undefined) input.MaximumEventAgeInSeconds = a;
          const ok = onSuccess.value.trim();
          const bad = onFailure.value.trim();
          if (ok || bad) input.DestinationConfig = { ...(ok ? { OnSuccess: { Destination: ok } } : {}), ...(bad ? { OnFailure: { Destination: bad } } : {}) };
          const saved = await api!.putEventInvokeConfig(name, q(), input);
          showConfig(saved);
          return `Saved the event invoke config of ${qualifier.value}.`;
        });
      },
    },
    h('h2', null, 'Event invoke config'),
    h('div', { class: 'row' }, h('label', { class: 'inline' }, 'Qualifier ', qualifier)),
    current,
    h(
      'div',
      { class: 'grid' },
      h('label', null, 'Maximum retry attempts (0-2)', retries),
      h('label', null, 'Maximum event age (60-21600 s)', maxAge),
      h('span'),
      h('label', { class: 'wide' }, 'On-success destination (Lambda function ARN)', onSuccess),
      h('label', { class: 'wide' }, 'On-failure destination (Lambda function ARN)', onFailure),
    ),
    h('button', { type: 'submit', class: 'primary', id: 'eic-save' }, 'Save'),
    ' ',
    h(
      'button',
      {
        type: 'button',
        id: 'eic-delete',
        onclick: () =>
          void act(cmsg, async () => {
            await api!.deleteEventInvokeConfig(name, q());
            showConfig(undefined);
            return `Removed the event invoke config of ${qualifier.value}.`;
          }),
      },
      'Remove config',
    ),
    cmsg,
  );

  // Queue counts and failed events.
  const counts = h('div', { class: 'counts', id: 'queue-counts' });
  const fmsg = h('div');
  const failed = h('div', { id: 'failed-events' }, h('p', { class: 'muted' }, 'Loading…'));
  const expanded = new Set<string>();

  const renderFailed = (events: FailedEvent[], more: boolean) => {
    if (events.length === 0) {
      failed.replaceChildren(h('p', { class: 'empty', id: 'failed-empty' }, 'No failed events.'));
      return;
    }
    const rows = events.flatMap((e) => {
      const record = h('tr', { class: 'record-row', 'data-record': e.Id, hidden: !expanded.has(e.Id) }, h('td', { colspan: 8 }, h('pre', { class: 'mono' }, JSON.stringify(e.Record, null, 2))));
      const toggle = h('button', { class: 'small toggle', 'aria-expanded': String(expanded.has(e.Id)) }, expanded.has(e.Id) ? '▾' : '▸');
      toggle.addEventListener('click', () => {
        const open = record.hidden;
        record.hidden = !open;
        toggle.textContent = open ? '▾' : '▸';
        toggle.setAttribute('aria-expanded', String(open));
        if (open) expanded.add(e.Id);
        else expanded.delete(e.Id);
      });
      const error = [e.ErrorType, e.ErrorMessage].filter(Boolean).join(': ');
      return [
        h(
          'tr',
          { class: 'failed-event', 'data-id': e.Id },
          h('td', null, toggle),
          h('td', { class: 'num id' }, e.Id),
          h('td', { class: 'request-id' }, h('code', null, e.RequestId)),
          h('td', { class: 'condition' }, h('span', { class: 'badge failed' }, e.Condition)),
          h('td', { class: 'num invokes' }, e.ApproximateInvokeCount !== undefined ? String(e.ApproximateInvokeCount) : '—'),
          h('td', { class: 'failed-at', title: e.FailedAt }, fmtAgo(e.FailedAt)),
          h('td', { class: 'error' }, error || '—'),
          h(
            'td',
            null,
            h(
              'button',
              {
                class: 'small redrive',
                onclick: () =>
                  void act(fmsg, async () => {
                    const n = await api!.redriveFailedEvents(name, [e.Id]);
                    await loadQueue();
                    return `Redrove ${n} event${n === 1 ? '' : 's'}.`;
                  }),
              },
              'Redrive',
            ),
          ),
        ),
        record,
      ];
    });
    failed.replaceChildren(
      h(
        'table',
        { class: 'list failed', id: 'failed-table' },
        h('thead', null, h('tr', null, ['', 'ID', 'Request id', 'Condition', 'Invokes', 'Failed', 'Error', ''].map((c, i) => h('th', { class: i === 1 || i === 4 ? 'num' : '' }, c)))),
        h('tbody', null, rows),
      ),
      ...(more ? [h('p', { class: 'muted' }, `Showing the oldest ${events.length}; redrive them to see the rest.`)] : []),
    );
  };

  const loadQueue = async () => {
    try {
      const [c, f] = await Promise.all([api!.eventQueue(name), api!.listFailedEvents(name)]);
      counts.replaceChildren(
        ...(
          [
            ['Visible', c.Visible, 'waiting to run'],
            ['InFlight', c.InFlight, 'running now'],
            ['Delayed', c.Delayed, 'waiting for a retry'],
            ['Failed', c.Failed, 'failed for good'],
          ] as const
        ).map(([k, n, what]) => h('div', { class: `count${k === 'Failed' && n > 0 ? ' bad' : ''}`, 'data-count': k }, h('b', null, String(n)), h('span', null, k === 'InFlight' ? 'in flight' : k.toLowerCase()), h('small', null, what))),
      );
      renderFailed(f.events, f.more);
    } catch (err) {
      failed.replaceChildren(notice('error', errorText(err)));
    }
  };

  body.append(
    configForm,
    h(
      'div',
      { class: 'card', id: 'event-queue' },
      h(
        'div',
        { class: 'title-row' },
        h('h2', null, 'Queue and failed events'),
        h(
          'div',
          { class: 'row' },
          h('button', { id: 'failed-refresh', onclick: () => void loadQueue() }, 'Refresh'),
          h(
            'button',
            {
              id: 'redrive-all',
              class: 'primary',
              onclick: () =>
                void act(fmsg, async () => {
                  const n = await api!.redriveFailedEvents(name);
                  await loadQueue();
                  return `Redrove ${n} event${n === 1 ? '' : 's'}: they run again with the same request ids, a fresh age and fresh retries.`;
                }),
            },
            'Redrive all',
          ),
        ),
      ),
      counts,
      fmsg,
      h('h3', null, 'Failed events'),
      failed,
    ),
  );

  // The qualifiers: versions and aliases.
  try {
    const [versions, aliases] = await Promise.all([api!.listVersions(name), api!.listAliases(name)]);
    qualifier.append(
      ...versions.filter((v) => v.Version !== '$LATEST').map((v) => h('option', { value: v.Version }, `version ${v.Version}`)),
      ...aliases.map((a) => h('option', { value: a.Name }, `alias ${a.Name}`)),
    );
  } catch (err) {
    cmsg.replaceChildren(notice('error', errorText(err)));
  }
  await Promise.all([loadConfig(), loadQueue()]);
  every(5000, () => void loadQueue());
}

// --- monitor ---

const RANGES: [number, string][] = [
  [60, 'last hour'],
  [180, 'last 3 hours'],
  [720, 'last 12 hours'],
  [1440, 'last 24 hours'],
];

function monitorTab(body: HTMLElement, name: string): void {
  const range = h('select', { id: 'monitor-range' }, RANGES.map(([m, l]) => h('option', { value: m }, l)));
  const charts = h('div', { class: 'charts', id: 'charts' });
  const load = async () => {
    try {
      const points = await api!.functionSeries(name, Number(range.value));
      const map = (f: (p: (typeof points)[number]) => Record<string, number | null>) => points.map((p) => ({ t: p.t, values: f(p) }));
      charts.replaceChildren(
        lineChart({ title: 'Invocations', series: [{ key: 'n', label: 'invocations', color: '#2f6fdf' }], points: map((p) => ({ n: p.invocations })) }),
        lineChart({
          title: 'Errors and throttles',
          series: [
            { key: 'e', label: 'errors', color: '#d2352b' },
            { key: 't', label: 'throttles', color: '#e38d13' },
          ],
          points: map((p) => ({ e: p.errors, t: p.throttles })),
        }),
        lineChart({
          title: 'Duration',
          unit: 'ms',
          series: [
            { key: 'p50', label: 'p50', color: '#2f9e61' },
            { key: 'p99', label: 'p99', color: '#8a4fd8' },
          ],
          points: map((p) => ({ p50: p.p50, p99: p.p99 })),
        }),
        lineChart({
          title: 'Cold and warm starts',
          series: [
            { key: 'c', label: 'cold', color: '#2aa3c9' },
            { key: 'w', label: 'warm', color: '#e06d2e' },
          ],
          points: map((p) => ({ c: p.cold, w: p.warm })),
        }),
        lineChart({ title: 'Concurrent executions', series: [{ key: 'c', label: 'peak per minute', color: '#555' }], points: map((p) => ({ c: p.concurrent })) }),
      );
    } catch (err) {
      charts.replaceChildren(notice('error', errorText(err)));
    }
  };
  range.addEventListener('change', () => void load());
  body.append(
    h('div', { class: 'row' }, h('label', { class: 'inline' }, 'Range ', range), h('button', { id: 'monitor-refresh', onclick: () => void load() }, 'Refresh'), h('span', { class: 'muted' }, 'per-minute, kept in memory for 24 h')),
    charts,
  );
  void load();
  every(10_000, () => void load());
}

// --- logs ---

const LOG_RANGES: [number, string][] = [
  [5, 'last 5 minutes'],
  [15, 'last 15 minutes'],
  [60, 'last hour'],
  [360, 'last 6 hours'],
  [1440, 'last 24 hours'],
  [10080, 'last 7 days'],
];

function logsTab(body: HTMLElement, name: string): void {
  const search = h('input', { id: 'logs-filter', placeholder: 'text or "quoted phrase"', type: 'search' });
  const range = h('select', { id: 'logs-range' }, LOG_RANGES.map(([m, l]) => h('option', { value: m, selected: m === 60 }, l)));
  const follow = h('input', { id: 'logs-follow', type: 'checkbox' });
  const out = h('div', { class: 'log-view', id: 'logs' });
  const msg = h('div');
  const seen = new Set<string>();
  let lastTs = 0;
  let timer: ReturnType<typeof setInterval> | undefined;

  const render = (events: LogEvent[]) => {
    for (const e of events) {
      if (seen.has(e.eventId)) continue;
      seen.add(e.eventId);
      lastTs = Math.max(lastTs, e.timestamp);
      const text = logText(e.message);
      const kind = /^(START|END|REPORT|INIT_START) /.test(text) ? 'platform' : /error|exception/i.test(text) ? 'error' : '';
      out.appendChild(
        h(
          'div',
          { class: `log-line ${kind}`, 'data-event-id': e.eventId },
          h('time', { title: e.logStreamName }, new Date(e.timestamp).toLocaleTimeString()),
          h('pre', null, text),
        ),
      );
    }
    if (follow.checked) out.scrollTop = out.scrollHeight;
  };

  const fetchAll = async (startTime: number) => {
    let token: string | undefined;
    let pages = 0;
    const events: LogEvent[] = [];
    do {
      const r = await api!.filterLogEvents({ functionName: name, startTime, filterPattern: search.value.trim(), limit: 1000, ...(token ? { nextToken: token } : {}) });
      events.push(...r.events);
      token = r.nextToken;
    } while (token && ++pages < 10);
    return events;
  };

  const reload = () =>
    void act(msg, async () => {
      seen.clear();
      lastTs = 0;
      out.replaceChildren();
      const events = await fetchAll(Date.now() - Number(range.value) * 60_000);
      if (events.length === 0) out.appendChild(h('p', { class: 'empty' }, 'No log events in this window.'));
      render(events);
    });

  const poll = async () => {
    try {
      const events = await fetchAll(lastTs || Date.now() - Number(range.value) * 60_000);
      if (events.length > 0) out.querySelector('.empty')?.remove();
      render(events);
    } catch (err) {
      msg.replaceChildren(notice('error', errorText(err)));
    }
  };

  follow.addEventListener('change', () => {
    if (timer) clearInterval(timer);
    timer = undefined;
    if (follow.checked) timer = setInterval(() => void poll(), 2000);
  });
  disposers.push(() => timer && clearInterval(timer));
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') reload();
  });
  range.addEventListener('change', reload);
  body.append(
    h(
      'div',
      { class: 'row' },
      search,
      range,
      h('button', { id: 'logs-search', class: 'primary', onclick: reload }, 'Search'),
      h('label', { class: 'inline' }, follow, ' Follow'),
    ),
    msg,
    out,
  );
  reload();
}

// --- versions and aliases ---

async function versionsTab(body: HTMLElement, name: string): Promise<void> {
  const msg = h('div');
  const desc = h('input', { id: 'publish-description', placeholder: 'description (optional)' });
  const lists = h('div');
  const load = async () => {
    const [versions, aliases] = await Promise.all([api!.listVersions(name), api!.listAliases(name)]);
    lists.replaceChildren(
      h(
        'div',
        { class: 'card' },
        h('h2', null, 'Versions'),
        h(
          'table',
          { class: 'list', id: 'versions' },
          h('thead', null, h('tr', null, ['Version', 'Description', 'Runtime', 'Memory', 'SHA-256', 'Last modified'].map((c) => h('th', null, c)))),
          h(
            'tbody',
            null,
            versions.map((v) =>
              h(
                'tr',
                null,
                h('td', null, v.Version),
                h('td', null, v.Description ?? ''),
                h('td', null, v.Runtime ?? ''),
                h('td', { class: 'num' }, `${v.MemorySize} MB`),
                h('td', null, h('code', null, v.CodeSha256.slice(0, 12) + '…')),
                h('td', { title: v.LastModified }, fmtAgo(v.LastModified)),
              ),
            ),
          ),
        ),
      ),
      h(
        'div',
        { class: 'card' },
        h('h2', null, 'Aliases'),
        aliases.length === 0
          ? h('p', { class: 'empty' }, 'No aliases.')
          : h(
              'table',
              { class: 'list', id: 'aliases' },
              h('thead', null, h('tr', null, ['Alias', 'Version', 'Weights', 'Description'].map((c) => h('th', null, c)))),
              h(
                'tbody',
                null,
                aliases.map((a) =>
                  h(
                    'tr',
                    null,
                    h('td', null, a.Name),
                    h('td', null, a.FunctionVersion),
                    h(
                      'td',
                      null,
                      Object.entries(a.RoutingConfig?.AdditionalVersionWeights ?? {})
                        .map(([v, w]) => `${v}: ${(w * 100).toFixed(0)}%`)
                        .join(', '),
                    ),
                    h('td', null, a.Description ?? ''),
                  ),
                ),
              ),
            ),
      ),
    );
  };
  body.append(
    h(
      'div',
      { class: 'card row' },
      desc,
      h(
        'button',
        {
          id: 'publish',
          onclick: () =>
            void act(msg, async () => {
              const v = await api!.publishVersion(name, desc.value);
              await load();
              return `Published version ${v.Version}.`;
            }),
        },
        'Publish new version',
      ),
      msg,
    ),
    lists,
  );
  await act(msg, load);
}

// --- hosts ---

async function hostsPage(main: HTMLElement): Promise<void> {
  const list = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  main.append(h('div', { class: 'title-row' }, h('h1', null, 'Hosts')), list);
  const load = async () => {
    try {
      const { Hosts, PlacementFailures } = await api!.hosts();
      list.replaceChildren(
        h('p', { class: 'muted' }, `${Hosts.length} worker host${Hosts.length === 1 ? '' : 's'}; placement failures since start: ${PlacementFailures}.`),
        ...Hosts.map((host) => {
          const used = host.MemoryMb > 0 ? host.ReservedMb / host.MemoryMb : 0;
          return h(
            'div',
            { class: 'card host', 'data-host': host.HostId },
            h('h2', null, `Host ${host.HostId}`),
            h(
              'div',
              { class: 'meter', title: `${host.ReservedMb} of ${host.MemoryMb} MB reserved` },
              h('div', { class: 'meter-fill', style: `width:${(used * 100).toFixed(1)}%` }),
            ),
            h('p', { class: 'muted' }, `${host.ReservedMb} MB reserved by sandboxes · ${host.FreeMb} MB free · ${host.MemoryMb} MB in all`),
            host.Sandboxes.length === 0
              ? h('p', { class: 'empty' }, 'No sandboxes.')
              : h(
                  'table',
                  { class: 'list sandboxes' },
                  h('thead', null, h('tr', null, ['Sandbox', 'Function', 'Version', 'State', 'Memory', 'Last used'].map((c) => h('th', null, c)))),
                  h(
                    'tbody',
                    null,
                    host.Sandboxes.map((sb) =>
                      h(
                        'tr',
                        null,
                        h('td', null, h('code', null, sb.Id.slice(0, 8))),
                        h('td', null, h('a', { href: `#/functions/${encodeURIComponent(sb.FunctionName)}` }, sb.FunctionName)),
                        h('td', null, sb.Version),
                        h('td', null, h('span', { class: `badge ${sb.State}` }, sb.State)),
                        h('td', { class: 'num' }, `${sb.MemoryMb} MB`),
                        h('td', { title: fmtTime(sb.LastUsed) }, fmtAgo(sb.LastUsed)),
                      ),
                    ),
                  ),
                ),
          );
        }),
      );
    } catch (err) {
      list.replaceChildren(notice('error', errorText(err)));
    }
  };
  await load();
  every(5000, () => void load());
}

route();
