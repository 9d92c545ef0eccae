// Long campaigns, not part of `npm test` (README "Tests"): `npx vitest run -c vitest.campaign.config.ts`.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.campaign.ts'],
    testTimeout: 3_600_000,
    hookTimeout: 180_000,
  },
});
