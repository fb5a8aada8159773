/** The TodoMVC page on the typed client: plain DOM, the list rendered from `state` after every change. */
import "todomvc-app-css/index.css";
import "./style.css";
import { codeOf, createApi, describeError, newKey, withRetries, type Api, type Todo, type TodoChange } from "./api.ts";
import { watchChanges } from "./live.ts";
import { devSignIn, forgetDevSession, hostSession, storedDevSession, type Session } from "./session.ts";

type Filter = "all" | "active" | "completed";
const PAGE_SIZE = 20;
const MAX_PAGE_SIZE = 100; // the API's limit

const $ = <T extends Element>(selector: string) => document.querySelector<T>(selector)!;
const ui = {
  newTodo: $<HTMLInputElement>(".new-todo"),
  signin: $<HTMLFormElement>(".signin"),
  signinName: $<HTMLInputElement>("#signin-name"),
  error: $<HTMLElement>(".error"),
  errorText: $<HTMLElement>(".error-text"),
  errorDismiss: $<HTMLButtonElement>(".error-dismiss"),
  main: $<HTMLElement>(".main"),
  toggleAll: $<HTMLInputElement>(".toggle-all"),
  list: $<HTMLUListElement>(".todo-list"),
  loadMore: $<HTMLButtonElement>(".load-more"),
  footer: $<HTMLElement>(".footer"),
  count: $<HTMLElement>(".todo-count"),
  filters: [...document.querySelectorAll<HTMLAnchorElement>(".filters a")],
  clearCompleted: $<HTMLButtonElement>(".clear-completed"),
  undo: $<HTMLElement>(".undo"),
  undoText: $<HTMLElement>(".undo-text"),
  undoButton: $<HTMLButtonElement>(".undo-button"),
  whoami: $<HTMLElement>(".whoami"),
  userName: $<HTMLElement>(".user-name"),
  signout: $<HTMLButtonElement>(".signout"),
};

const state = {
  session: null as Session | null,
  api: null as Api | null,
  items: [] as Todo[],
  nextCursor: null as string | null,
  stats: { total: 0, active: 0, completed: 0, overdue: 0 },
  filter: filterFromHash(),
  /** The todo being edited, as it was when the edit began: saving sends its version as expectedVersion. */
  editing: null as Todo | null,
  /** A reload that waits for the edit in progress to end, so the user's typing is not thrown away. */
  reloadAfterEdit: false,
  /** Bumped whenever the list is reloaded, so a page that arrives late for an older list is dropped. */
  listVersion: 0,
  loadingMore: false,
  stopLive: null as (() => void) | null,
  /** The last change position the list is known to include: a todo.sync cursor (and an onChange event id). */
  cursor: null as string | null,
  /** The todo deleted last, while its "Undo" shows. */
  undoable: null as Todo | null,
};

function filterFromHash(): Filter {
  const route = location.hash.replace(/^#\/?/, "");
  return route === "active" || route === "completed" ? route : "all";
}

const matchesFilter = (todo: Todo) => state.filter === "all" || todo.completed === (state.filter === "completed");

// ---- talking to the API

function api(): Api {
  if (!state.api) throw new Error("Not signed in");
  return state.api;
}

/** Runs one user action: its error replaces the banner's text, success clears it. Nothing is swallowed. */
async function run(action: () => Promise<void>) {
  try {
    await action();
    showError(null);
  } catch (error) {
    failed(error);
  }
}

/** Runs work the user did not ask for (a live update's refetch): an error shows, success leaves the banner alone. */
async function quietly(action: () => Promise<void>) {
  try {
    await action();
  } catch (error) {
    failed(error);
  }
}

function failed(error: unknown) {
  if (codeOf(error) === "UNAUTHORIZED" && state.session?.kind === "development") {
    signOut();
    showError(`Signed out: the server refused the token (${describeError(error)}). Sign in again.`);
    return;
  }
  showError(describeError(error));
}

/** Live events that arrive while a list request is out; they are applied again to its answer, which may predate them. */
const inFlight = new Set<TodoChange[]>();

async function whileListening<T>(request: Promise<T>): Promise<[T, TodoChange[]]> {
  const missed: TodoChange[] = [];
  inFlight.add(missed);
  try {
    return [await request, missed];
  } finally {
    inFlight.delete(missed);
  }
}

async function reloadList(limit = PAGE_SIZE) {
  const version = ++state.listVersion;
  const [[page, stats], missed] = await whileListening(
    Promise.all([
      api().todo.list.query({ status: state.filter, limit: Math.min(Math.max(limit, PAGE_SIZE), MAX_PAGE_SIZE) }),
      api().todo.stats.query(),
    ]),
  );
  if (version !== state.listVersion) return;
  state.items = page.items;
  state.nextCursor = page.nextCursor;
  state.stats = stats;
  missed.forEach(applyToList);
  render();
}

async function loadMore() {
  const cursor = state.nextCursor;
  if (!cursor || state.loadingMore) return;
  const version = state.listVersion;
  state.loadingMore = true;
  try {
    const [page, missed] = await whileListening(
      api().todo.list.query({ status: state.filter, limit: PAGE_SIZE, cursor }),
    );
    if (version !== state.listVersion) return;
    const known = new Set(state.items.map((t) => t.id));
    state.items.push(...page.items.filter((t) => !known.has(t.id)));
    state.nextCursor = page.nextCursor;
    missed.forEach(applyToList);
  } finally {
    state.loadingMore = false;
    render();
  }
}

async function refreshStats() {
  state.stats = await api().todo.stats.query();
  render();
}

/**
 * Puts the server's copy of a todo in the list (or takes it out when it no longer matches the filter), unless the
 * list already holds a newer version. The todo being edited stays until the edit ends.
 */
function replace(todo: Todo) {
  const current = state.items.find((t) => t.id === todo.id);
  if (!current || current.version > todo.version) return;
  const editing = state.editing?.id === todo.id;
  if (!matchesFilter(todo) && editing) state.reloadAfterEdit = true;
  state.items = state.items.flatMap((t) => (t.id !== todo.id ? [t] : matchesFilter(todo) || editing ? [todo] : []));
}

function remove(id: string) {
  if (state.editing?.id === id)
    state.reloadAfterEdit = true; // saving it will say it was deleted
  else state.items = state.items.filter((t) => t.id !== id);
}

// ---- live updates: changes made in other tabs and on other devices

/** The list's order (newest first, then by id), as the API sorts it. */
const before = (a: Todo, b: Todo) =>
  a.createdAt.getTime() > b.createdAt.getTime() || (a.createdAt.getTime() === b.createdAt.getTime() && a.id > b.id);

/** A todo the list does not hold yet, at its place; not when its place is on a page not loaded yet. */
function insert(todo: Todo) {
  if (!matchesFilter(todo)) return;
  const at = state.items.findIndex((t) => before(todo, t));
  if (at === -1 && state.nextCursor) return;
  state.items.splice(at === -1 ? state.items.length : at, 0, todo);
}

function applyToList(change: TodoChange) {
  if (change.type === "changed") return scheduleReload();
  if (change.type === "deleted") return remove(change.id);
  if (state.items.some((t) => t.id === change.todo.id)) replace(change.todo);
  else insert(change.todo);
}

function onChange(change: TodoChange, id: string) {
  const from = state.cursor;
  state.cursor = id;
  // `changed`: the stream could not replay from where the page was (an unknown or expired position).
  if (change.type === "changed") return void quietly(() => catchUp(from));
  for (const missed of inFlight) missed.push(change);
  applyToList(change);
  scheduleStats();
  render();
}

const SYNC_PAGE = 500;

/**
 * Brings the list up to date with todo.sync: the todos changed since `from`, each in its latest state, and the
 * ids deleted since. A position too old for that (PRECONDITION_FAILED), or none, reloads the list instead.
 */
async function catchUp(from: string | null) {
  const version = state.listVersion;
  let after = from;
  try {
    while (after) {
      const [page, missed] = await whileListening(api().todo.sync.query({ after, limit: SYNC_PAGE }));
      if (version !== state.listVersion) return; // reloaded meanwhile
      for (const todo of page.todos) {
        if (state.items.some((t) => t.id === todo.id)) replace(todo);
        else insert(todo);
      }
      page.deleted.forEach(remove);
      // Live events that arrived meanwhile may be newer than the page.
      missed.forEach(applyToList);
      after = page.more ? page.cursor : null;
      render();
      if (!page.more) return await refreshStats();
    }
  } catch (error) {
    const code = codeOf(error);
    if (code !== "PRECONDITION_FAILED" && code !== "BAD_REQUEST") throw error;
  }
  await reloadList(state.items.length);
}

// Bursts of events (a toggle-all made elsewhere, fast typing in another tab) cost one request, not one each.
const COALESCE_MS = 50;
let reloadTimer: ReturnType<typeof setTimeout> | undefined;
let statsTimer: ReturnType<typeof setTimeout> | undefined;

function scheduleReload() {
  if (state.editing) {
    state.reloadAfterEdit = true;
    return;
  }
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => state.api && void quietly(() => reloadList(state.items.length)), COALESCE_MS);
}

function scheduleStats() {
  clearTimeout(statsTimer);
  statsTimer = setTimeout(() => state.api && void quietly(refreshStats), COALESCE_MS);
}

function endEdit() {
  state.editing = null;
  if (state.reloadAfterEdit) {
    state.reloadAfterEdit = false;
    scheduleReload();
  }
}

/**
 * The create being sent: its title and Idempotency-Key. Sending the same title again before it succeeded (a double
 * Enter, a retry after an error) reuses the key, so the server writes it once; a new title gets a new key.
 */
let pendingCreate: { title: string; key: string } | null = null;

async function addTodo(title: string) {
  if (!title.trim()) return;
  if (pendingCreate?.title !== title) pendingCreate = { title, key: newKey() };
  const { key } = pendingCreate;
  const todo = await withRetries(() => api().todo.create.mutate({ title }, { context: { idempotencyKey: key } }));
  if (pendingCreate?.key === key) {
    pendingCreate = null;
    ui.newTodo.value = "";
  }
  // Newest first: the new todo heads the list; the cursor of the pages below stays valid. A replay is already there.
  if (matchesFilter(todo) && !state.items.some((t) => t.id === todo.id)) state.items.unshift(todo);
  await refreshStats();
}

/**
 * Changes a todo only if nobody else changed it since this page loaded it (expectedVersion). When someone
 * did, the page shows the current version and says so: the user decides again.
 */
async function updateTodo(todo: Todo, change: { title?: string; completed?: boolean }) {
  try {
    replace(await api().todo.update.mutate({ id: todo.id, expectedVersion: todo.version, ...change }));
  } catch (error) {
    const code = codeOf(error);
    if (code === "CONFLICT") {
      replace(await api().todo.byId.query({ id: todo.id }));
      render();
      throw new Error(
        `“${todo.title}” was changed in another tab or app, so your change was not saved: it now shows the latest version (CONFLICT)`,
        { cause: error },
      );
    }
    if (code === "NOT_FOUND") {
      state.items = state.items.filter((t) => t.id !== todo.id);
      render();
      throw new Error(`“${todo.title}” was deleted in another tab or app (NOT_FOUND)`, { cause: error });
    }
    throw error;
  }
  await refreshStats();
}

async function deleteTodo(todo: Todo) {
  try {
    await api().todo.delete.mutate({ id: todo.id });
  } catch (error) {
    if (codeOf(error) !== "NOT_FOUND") throw error;
    state.items = state.items.filter((t) => t.id !== todo.id);
    await refreshStats();
    throw new Error(`“${todo.title}” was already deleted in another tab or app (NOT_FOUND)`, { cause: error });
  }
  state.items = state.items.filter((t) => t.id !== todo.id);
  offerUndo(todo);
  await refreshStats();
}

/** How long "Undo" shows after a delete. The server keeps the deleted todo for CHANGE_RETENTION_MS. */
const UNDO_MS = 6_000;
let undoTimer: ReturnType<typeof setTimeout> | undefined;

function offerUndo(todo: Todo | null) {
  clearTimeout(undoTimer);
  state.undoable = todo;
  ui.undo.hidden = todo === null;
  ui.undoText.textContent = todo ? `Deleted “${todo.title}”` : "";
  if (todo) undoTimer = setTimeout(() => offerUndo(null), UNDO_MS);
}

/** Brings the deleted todo back (a new version); a repeat of the click is the same request (one Idempotency-Key). */
async function undoDelete() {
  const todo = state.undoable;
  if (!todo) return;
  offerUndo(null);
  const key = newKey();
  const restored = await withRetries(() =>
    api().todo.restore.mutate({ id: todo.id }, { context: { idempotencyKey: key } }),
  );
  if (state.items.some((t) => t.id === restored.id)) replace(restored);
  else insert(restored);
  await refreshStats();
}

/** Saves against the version the edit began from: a change made elsewhere meanwhile is a CONFLICT, not overwritten. */
async function saveEdit(title: string) {
  const todo = state.editing;
  if (!todo) return;
  endEdit();
  const trimmed = title.trim();
  if (!trimmed) return deleteTodo(todo); // TodoMVC: emptying a title deletes the todo
  if (trimmed === todo.title) return render();
  render();
  await updateTodo(todo, { title: trimmed });
}

// ---- rendering

function render() {
  const { stats, items } = state;
  ui.main.hidden = stats.total === 0 && items.length === 0;
  ui.footer.hidden = stats.total === 0;
  ui.toggleAll.checked = stats.total > 0 && stats.active === 0;
  ui.count.replaceChildren(strong(String(stats.active)), ` ${stats.active === 1 ? "item" : "items"} left`);
  ui.clearCompleted.hidden = stats.completed === 0;
  for (const link of ui.filters) link.classList.toggle("selected", filterFromHref(link) === state.filter);
  ui.loadMore.hidden = !state.nextCursor;
  // A render during an edit (a live update, another action finishing) leaves the edited item's element where it
  // is: its text, caret and focus stay as the user has them. The others are rebuilt around it.
  const kept =
    state.editing && ui.list.querySelector<HTMLLIElement>(`li.editing[data-id="${CSS.escape(state.editing.id)}"]`);
  const nodes = items.map((todo) => (kept && todo.id === kept.dataset.id ? kept : renderTodo(todo)));
  const at = kept ? nodes.indexOf(kept) : -1;
  for (const child of [...ui.list.children]) if (child !== kept || at === -1) child.remove();
  if (kept && at !== -1) {
    kept.before(...nodes.slice(0, at));
    kept.after(...nodes.slice(at + 1));
    return;
  }
  ui.list.append(...nodes);
  const edit = ui.list.querySelector<HTMLInputElement>(".edit");
  if (edit) {
    edit.focus();
    edit.setSelectionRange(edit.value.length, edit.value.length);
  }
}

function renderTodo(todo: Todo): HTMLLIElement {
  const li = document.createElement("li");
  li.dataset.id = todo.id;
  li.classList.toggle("completed", todo.completed);

  const view = document.createElement("div");
  view.className = "view";
  const toggle = document.createElement("input");
  toggle.className = "toggle";
  toggle.type = "checkbox";
  toggle.checked = todo.completed;
  toggle.setAttribute("aria-label", `Complete ${todo.title}`);
  const label = document.createElement("label");
  label.textContent = todo.title;
  const destroy = document.createElement("button");
  destroy.className = "destroy";
  destroy.setAttribute("aria-label", `Delete ${todo.title}`);
  view.append(toggle, label, destroy);
  li.append(view);

  if (state.editing?.id === todo.id) {
    li.classList.add("editing");
    const edit = document.createElement("input");
    edit.className = "edit";
    edit.value = todo.title;
    edit.maxLength = 200;
    edit.setAttribute("aria-label", `Edit ${todo.title}`);
    li.append(edit);
  }
  return li;
}

function strong(text: string) {
  const el = document.createElement("strong");
  el.textContent = text;
  return el;
}

function filterFromHref(link: HTMLAnchorElement): Filter {
  const route = link.hash.replace(/^#\/?/, "");
  return route === "active" || route === "completed" ? route : "all";
}

function showError(message: string | null) {
  ui.error.hidden = message === null;
  ui.errorText.textContent = message ?? "";
}

// ---- signing in and out

async function start(session: Session) {
  state.session = session;
  state.api = createApi(() => session.token());
  const me = await state.api.me.query();
  ui.userName.textContent = me.name ?? me.id;
  ui.whoami.hidden = false;
  ui.signout.hidden = session.kind !== "development";
  ui.signin.hidden = true;
  ui.newTodo.hidden = false;
  ui.newTodo.focus();
  state.stopLive = watchChanges(state.api, {
    // A resumed stream replays what the page missed; a new one may have missed what happened before it opened.
    onStarted: (resumed) => resumed || scheduleReload(),
    onChange,
    // The page works without live updates (TOO_MANY_REQUESTS: this user has many tabs open); a refused token does not.
    onRefused: (error) => codeOf(error) === "UNAUTHORIZED" && failed(error),
    renew: () => session.renew(),
  });
  await reloadList();
}

function signOut() {
  forgetDevSession();
  state.stopLive?.();
  clearTimeout(reloadTimer);
  clearTimeout(statsTimer);
  offerUndo(null);
  Object.assign(state, {
    session: null,
    api: null,
    items: [],
    nextCursor: null,
    editing: null,
    reloadAfterEdit: false,
    stopLive: null,
    cursor: null,
  });
  state.stats = { total: 0, active: 0, completed: 0, overdue: 0 };
  state.listVersion++;
  ui.whoami.hidden = true;
  ui.newTodo.hidden = true;
  ui.signin.hidden = false;
  render();
  ui.signinName.focus();
}

// ---- events

const todoOf = (target: EventTarget | null): Todo | undefined => {
  const id = (target as Element | null)?.closest<HTMLElement>("li[data-id]")?.dataset.id;
  return state.items.find((t) => t.id === id);
};

ui.signin.addEventListener("submit", (event) => {
  event.preventDefault();
  void run(async () => start(await devSignIn(ui.signinName.value)));
});
ui.signout.addEventListener("click", () => {
  signOut();
  showError(null);
});
ui.errorDismiss.addEventListener("click", () => showError(null));
ui.undoButton.addEventListener("click", () => void run(undoDelete));

ui.newTodo.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.isComposing) void run(() => addTodo(ui.newTodo.value));
});

ui.list.addEventListener("change", (event) => {
  const todo = todoOf(event.target);
  if (todo && (event.target as Element).matches(".toggle"))
    void run(() => updateTodo(todo, { completed: !todo.completed }));
});
ui.list.addEventListener("click", (event) => {
  const todo = todoOf(event.target);
  if (todo && (event.target as Element).matches(".destroy")) void run(() => deleteTodo(todo));
});
ui.list.addEventListener("dblclick", (event) => {
  const todo = todoOf(event.target);
  if (!todo || !(event.target as Element).matches("label")) return;
  state.editing = todo;
  render();
});
ui.list.addEventListener("keydown", (event) => {
  const todo = todoOf(event.target);
  const edit = event.target as HTMLInputElement;
  if (!todo || !edit.matches(".edit") || event.isComposing) return;
  if (state.editing?.id !== todo.id) return;
  if (event.key === "Enter") void run(() => saveEdit(edit.value));
  if (event.key === "Escape") {
    endEdit();
    render();
  }
});
// Leaving the field saves, as in TodoMVC; Enter and Escape have already ended the edit, so their blur does nothing.
ui.list.addEventListener("focusout", (event) => {
  const todo = todoOf(event.target);
  if (todo && state.editing?.id === todo.id && (event.target as Element).matches(".edit")) {
    void run(() => saveEdit((event.target as HTMLInputElement).value));
  }
});

ui.toggleAll.addEventListener("change", () => {
  void run(async () => {
    await api().todo.toggleAll.mutate({ completed: state.stats.active > 0 });
    await reloadList(state.items.length);
  });
});
ui.clearCompleted.addEventListener("click", () => {
  void run(async () => {
    await api().todo.clearCompleted.mutate();
    await reloadList(state.items.length);
  });
});
ui.loadMore.addEventListener("click", () => void run(loadMore));

window.addEventListener("hashchange", () => {
  state.filter = filterFromHash();
  Object.assign(state, { editing: null, reloadAfterEdit: false });
  if (state.api) void run(() => reloadList());
  else render();
});

// ---- start: the host's token, else a development session from an earlier visit, else the sign-in form

const session = hostSession() ?? storedDevSession();
if (session) void run(() => start(session));
else signOut();
