-- The durable change feed (src/live/, docs in README "Live updates and sync"). Every todo row carries its last
-- change: the writing transaction's id (xid8, as bigint) and a number from one sequence. (changeTx, changeSeq) is
-- the row's position in the feed. A reader only moves past positions whose transaction has ended: changeTx below
-- pg_snapshot_xmin(pg_current_snapshot()) (src/live/changes.ts). A delete keeps the row as a tombstone
-- ("deletedAt"); the retention sweeper purges tombstones and moves "ChangeHorizon" past them.
-- Replaces the NOTIFY triggers: PostgreSQL serialises notifying commits on one lock, so writes no longer notify
-- inside their transaction; the API sends a coalesced NOTIFY after commit instead, as a wake-up hint only.
DROP TRIGGER "Todo_notify_insert" ON "Todo";
DROP TRIGGER "Todo_notify_update" ON "Todo";
DROP TRIGGER "Todo_notify_delete" ON "Todo";
DROP FUNCTION "todo_notify_change"();

-- CreateEnum
CREATE TYPE "ChangeKind" AS ENUM ('CREATED', 'UPDATED', 'RESTORED', 'DELETED');

CREATE SEQUENCE "Todo_changeSeq_seq" AS BIGINT;

-- AlterTable (existing rows get positions in the migration's transaction)
ALTER TABLE "Todo" ADD COLUMN     "changeKind" "ChangeKind" NOT NULL DEFAULT 'CREATED',
ADD COLUMN     "changeSeq" BIGINT NOT NULL DEFAULT nextval('"Todo_changeSeq_seq"'::regclass),
ADD COLUMN     "changeTx" BIGINT NOT NULL DEFAULT (pg_current_xact_id())::text::bigint,
ADD COLUMN     "deletedAt" TIMESTAMPTZ(3);

ALTER SEQUENCE "Todo_changeSeq_seq" OWNED BY "Todo"."changeSeq";

-- Every UPDATE, whoever runs it (the API, an import, Prisma Studio), records itself: a new position and its kind.
CREATE FUNCTION "todo_record_change"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW."changeTx" := pg_current_xact_id()::text::bigint;
  NEW."changeSeq" := nextval('"Todo_changeSeq_seq"');
  NEW."changeKind" := CASE
    WHEN NEW."deletedAt" IS NOT NULL THEN 'DELETED'
    WHEN OLD."deletedAt" IS NOT NULL THEN 'RESTORED'
    ELSE 'UPDATED' END::"ChangeKind";
  RETURN NEW;
END
$$;

CREATE TRIGGER "Todo_record_change" BEFORE UPDATE ON "Todo" FOR EACH ROW EXECUTE FUNCTION "todo_record_change"();

-- CreateTable
CREATE TABLE "ChangeHorizon" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "tx" BIGINT NOT NULL DEFAULT 0,
    "seq" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "ChangeHorizon_pkey" PRIMARY KEY ("id")
);

INSERT INTO "ChangeHorizon" ("id", "tx", "seq") VALUES (1, 0, 0);

-- CreateIndex
CREATE INDEX "Todo_userId_changeTx_changeSeq_idx" ON "Todo"("userId", "changeTx", "changeSeq");

-- CreateIndex
CREATE INDEX "Todo_changeTx_changeSeq_idx" ON "Todo"("changeTx", "changeSeq");

-- CreateIndex
CREATE INDEX "Todo_deletedAt_idx" ON "Todo"("deletedAt");
