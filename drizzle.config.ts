import { defineConfig } from 'drizzle-kit';

// Migrations are generated from the one schema module and applied by wrangler
// (`wrangler d1 migrations apply`), which reads the SQL files in `drizzle/`.
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/db/schema.ts',
  out: './drizzle',
});
