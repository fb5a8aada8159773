-- Search (src/todos/repository.ts listWhere: "title" ILIKE '%…%' OR "description" ILIKE '%…%') with trigram
-- indexes instead of reading every row of the user. PostgreSQL ships pg_trgm as a trusted extension (Neon too);
-- the embedded PGlite loads it (src/db/embedded.ts). Patterns shorter than three characters still read the rows.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- CreateIndex
CREATE INDEX "Todo_title_trgm_idx" ON "Todo" USING GIN ("title" gin_trgm_ops);

-- CreateIndex
CREATE INDEX "Todo_description_trgm_idx" ON "Todo" USING GIN ("description" gin_trgm_ops);
