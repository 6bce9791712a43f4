import "@testing-library/jest-dom/vitest";
import { randomFillSync } from "node:crypto";

// @tauri-apps/api's mocks use window.crypto for callback ids.
Object.defineProperty(window, "crypto", {
  value: { getRandomValues: (buffer: Uint8Array) => randomFillSync(buffer) },
});

import { cleanup } from "@testing-library/svelte";
import { clearMocks } from "@tauri-apps/api/mocks";
import { afterEach } from "vitest";

// Each test starts from an empty page and no backend; components unmount (and stop listening)
// before the fake backend goes.
afterEach(() => {
  cleanup();
  clearMocks();
});
