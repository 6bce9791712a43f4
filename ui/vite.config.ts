import { defineConfig } from "vitest/config";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// The console's UI: built to ui/dist, which tauri.conf.json serves; tests run in jsdom with the
// Tauri IPC mocked (`@tauri-apps/api/mocks`).
export default defineConfig({
  plugins: [svelte()],
  clearScreen: false,
  build: { target: "es2022", outDir: "dist", emptyOutDir: true },
  resolve: process.env.VITEST ? { conditions: ["browser"] } : undefined,
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts"],
    setupFiles: ["src/test-setup.ts"],
  },
});
