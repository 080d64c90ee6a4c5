import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Proxies and load share two cores: running files one at a time keeps
    // integration tests from starving each other.
    fileParallelism: false,
    reporters: ["default"],
  },
});
