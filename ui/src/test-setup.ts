import "@testing-library/jest-dom/vitest";
import { randomFillSync } from "node:crypto";

// @tauri-apps/api's mocks use window.crypto for callback ids.
Object.defineProperty(window, "crypto", {
  value: { getRandomValues: (buffer: Uint8Array) => randomFillSync(buffer) },
});
