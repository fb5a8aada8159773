import "dotenv/config";
import { defineConfig } from "prisma/config";

// Used by the Prisma CLI (generate, studio, and `migrate deploy` where the native engine is reachable).
// Migrations run against DIRECT_URL (Neon's unpooled endpoint), falling back to DATABASE_URL.
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: {
    url: process.env.DIRECT_URL || process.env.DATABASE_URL || "postgresql://localhost:5432/postgres",
  },
});
