-- Live updates (src/changes/): every statement that writes "Todo" sends one NOTIFY per user it touched, on the
-- channel todo_changes, delivered at COMMIT (never for a rollback). One row: its id and new version; several rows
-- (toggleAll, clearCompleted, an import): "changed", so subscribers refetch. A payload is a few hundred bytes at
-- most (a user id is at most 255 characters), far under NOTIFY's 8,000-byte limit. Statement-level triggers with
-- transition tables: a bulk statement costs one NOTIFY per user, not one per row. With nobody listening a NOTIFY
-- is all the extra work a write does.
CREATE FUNCTION "todo_notify_change"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  change record;
BEGIN
  IF TG_OP = 'DELETE' THEN
    FOR change IN SELECT "userId", count(*) AS n, min("id"::text) AS id, min("version") AS version FROM old_rows GROUP BY "userId" LOOP
      PERFORM pg_notify('todo_changes', json_build_object('u', change."userId", 'op', CASE WHEN change.n = 1 THEN 'deleted' ELSE 'changed' END, 'id', CASE WHEN change.n = 1 THEN change.id END, 'v', CASE WHEN change.n = 1 THEN change.version END)::text);
    END LOOP;
  ELSE
    FOR change IN SELECT "userId", count(*) AS n, min("id"::text) AS id, min("version") AS version FROM new_rows GROUP BY "userId" LOOP
      PERFORM pg_notify('todo_changes', json_build_object('u', change."userId", 'op', CASE WHEN change.n > 1 THEN 'changed' WHEN TG_OP = 'INSERT' THEN 'created' ELSE 'updated' END, 'id', CASE WHEN change.n = 1 THEN change.id END, 'v', CASE WHEN change.n = 1 THEN change.version END)::text);
    END LOOP;
  END IF;
  RETURN NULL;
END
$$;

-- A trigger with a transition table has one event each.
CREATE TRIGGER "Todo_notify_insert" AFTER INSERT ON "Todo" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "todo_notify_change"();
CREATE TRIGGER "Todo_notify_update" AFTER UPDATE ON "Todo" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "todo_notify_change"();
CREATE TRIGGER "Todo_notify_delete" AFTER DELETE ON "Todo" REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION "todo_notify_change"();
