// The typed commands (generated in bindings.ts) unwrapped: a failure becomes an `AdminFailure`
// carrying the backend's code, which the screens show as a banner with the action to take.

import type { AdminError, ErrorCode, Result } from "../bindings";

export class AdminFailure extends Error {
  readonly code: ErrorCode;
  constructor(error: AdminError | string) {
    // Tauri itself fails with a bare string (arguments the command could not read, say): still a
    // banner that says what happened, never an empty one.
    if (typeof error === "string") {
      super(`The app could not run this action: ${error}`);
      this.code = "invalid";
    } else {
      super(error.message);
      this.code = error.code;
    }
  }
}

/** The command's data, or throws its `AdminError` as an `AdminFailure`. */
export async function unwrap<T>(pending: Promise<Result<T, AdminError>>): Promise<T> {
  const result = await pending;
  if (result.status === "error") throw new AdminFailure(result.error);
  return result.data;
}

/** Today's date in the machine's zone as YYYY-MM-DD. */
export function isoDate(date = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}
