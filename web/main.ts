/** The TodoMVC page on the typed client: plain DOM, the list rendered from `state` after every change. */
import "todomvc-app-css/index.css";
import "./style.css";
import { codeOf, createApi, describeError, newKey, withRetries, type Api, type Stats, type Todo } from "./api.ts";
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
  whoami: $<HTMLElement>(".whoami"),
  userName: $<HTMLElement>(".user-name"),
  signout: $<HTMLButtonElement>(".signout"),
};

const state = {
  session: null as Session | null,
  api: null as Api | null,
  items: [] as Todo[],
  nextCursor: null as string | null,
  stats: { total: 0, active: 0, completed: 0, overdue: 0 } as Stats,
  filter: filterFromHash(),
  editingId: null as string | null,
  /** Bumped whenever the list is reloaded, so a page that arrives late for an older list is dropped. */
  listVersion: 0,
  loadingMore: false,
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
    if (codeOf(error) === "UNAUTHORIZED" && state.session?.kind === "development") {
      signOut();
      showError(`Signed out: the server refused the token (${describeError(error)}). Sign in again.`);
      return;
    }
    showError(describeError(error));
  }
}

async function reloadList(limit = PAGE_SIZE) {
  const version = ++state.listVersion;
  const [page, stats] = await Promise.all([
    api().todo.list.query({ status: state.filter, limit: Math.min(Math.max(limit, PAGE_SIZE), MAX_PAGE_SIZE) }),
    api().todo.stats.query(),
  ]);
  if (version !== state.listVersion) return;
  state.items = page.items;
  state.nextCursor = page.nextCursor;
  state.stats = stats;
  render();
}

async function loadMore() {
  const cursor = state.nextCursor;
  if (!cursor || state.loadingMore) return;
  const version = state.listVersion;
  state.loadingMore = true;
  try {
    const page = await api().todo.list.query({ status: state.filter, limit: PAGE_SIZE, cursor });
    if (version !== state.listVersion) return;
    const known = new Set(state.items.map((t) => t.id));
    state.items.push(...page.items.filter((t) => !known.has(t.id)));
    state.nextCursor = page.nextCursor;
  } finally {
    state.loadingMore = false;
    render();
  }
}

async function refreshStats() {
  state.stats = await api().todo.stats.query();
  render();
}

/** Puts the server's copy of a todo in the list (or takes it out when it no longer matches the filter). */
function replace(todo: Todo) {
  state.items = state.items.flatMap((t) => (t.id !== todo.id ? [t] : matchesFilter(todo) ? [todo] : []));
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
      throw new Error(`“${todo.title}” was changed in another tab or app, so your change was not saved: it now shows the latest version (CONFLICT)`);
    }
    if (code === "NOT_FOUND") {
      state.items = state.items.filter((t) => t.id !== todo.id);
      render();
      throw new Error(`“${todo.title}” was deleted in another tab or app (NOT_FOUND)`);
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
    throw new Error(`“${todo.title}” was already deleted in another tab or app (NOT_FOUND)`);
  }
  state.items = state.items.filter((t) => t.id !== todo.id);
  await refreshStats();
}

async function saveEdit(todo: Todo, title: string) {
  state.editingId = null;
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
  // A render during an edit (another action finished) keeps what the user has typed so far.
  const draft = ui.list.querySelector<HTMLInputElement>(".edit")?.value;
  ui.list.replaceChildren(...items.map((todo) => renderTodo(todo, draft)));

  const edit = ui.list.querySelector<HTMLInputElement>(".edit");
  if (edit && document.activeElement !== edit) {
    edit.focus();
    edit.setSelectionRange(edit.value.length, edit.value.length);
  }
}

function renderTodo(todo: Todo, draft: string | undefined): HTMLLIElement {
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

  if (state.editingId === todo.id) {
    li.classList.add("editing");
    const edit = document.createElement("input");
    edit.className = "edit";
    edit.value = draft ?? todo.title;
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
  await reloadList();
}

function signOut() {
  forgetDevSession();
  Object.assign(state, { session: null, api: null, items: [], nextCursor: null, editingId: null });
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

ui.newTodo.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.isComposing) void run(() => addTodo(ui.newTodo.value));
});

ui.list.addEventListener("change", (event) => {
  const todo = todoOf(event.target);
  if (todo && (event.target as Element).matches(".toggle")) void run(() => updateTodo(todo, { completed: !todo.completed }));
});
ui.list.addEventListener("click", (event) => {
  const todo = todoOf(event.target);
  if (todo && (event.target as Element).matches(".destroy")) void run(() => deleteTodo(todo));
});
ui.list.addEventListener("dblclick", (event) => {
  const todo = todoOf(event.target);
  if (!todo || !(event.target as Element).matches("label")) return;
  state.editingId = todo.id;
  render();
});
ui.list.addEventListener("keydown", (event) => {
  const todo = todoOf(event.target);
  const edit = event.target as HTMLInputElement;
  if (!todo || !edit.matches(".edit") || event.isComposing) return;
  if (event.key === "Enter") void run(() => saveEdit(todo, edit.value));
  if (event.key === "Escape") {
    state.editingId = null;
    render();
  }
});
// Leaving the field saves, as in TodoMVC; Enter and Escape have already ended the edit, so their blur does nothing.
ui.list.addEventListener("focusout", (event) => {
  const todo = todoOf(event.target);
  if (todo && state.editingId === todo.id && (event.target as Element).matches(".edit")) {
    void run(() => saveEdit(todo, (event.target as HTMLInputElement).value));
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
  state.editingId = null;
  if (state.api) void run(() => reloadList());
  else render();
});

// ---- start: the host's token, else a development session from an earlier visit, else the sign-in form

const session = hostSession() ?? storedDevSession();
if (session) void run(() => start(session));
else signOut();
