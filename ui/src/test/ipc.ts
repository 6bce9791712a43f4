// A fake backend for component tests: each command answers from a handler, and every call is
// recorded so a test can check what the UI sent.

import { mockIPC } from "@tauri-apps/api/mocks";

export type Handler = (args: Record<string, unknown>) => unknown;

export interface Backend {
  calls: { cmd: string; args: Record<string, unknown> }[];
  callsOf(cmd: string): Record<string, unknown>[];
}

/** Installs `handlers` as the backend; an unknown command fails the test loudly. */
export function fakeBackend(handlers: Record<string, Handler>, options = { events: false }): Backend {
  const backend: Backend = {
    calls: [],
    callsOf: (cmd) => backend.calls.filter((call) => call.cmd === cmd).map((call) => call.args),
  };
  mockIPC(
    async (cmd, payload) => {
      const args = (payload ?? {}) as Record<string, unknown>;
      if (cmd.startsWith("plugin:event|")) return 0;
      backend.calls.push({ cmd, args });
      const handler = handlers[cmd];
      if (!handler) throw new Error(`the test backend has no command ${cmd}`);
      return handler(args);
    },
    { shouldMockEvents: options.events },
  );
  return backend;
}

