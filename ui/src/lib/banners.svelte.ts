// The banners at the top of the window: errors with what to do, and confirmations.

import type { ErrorCode } from "../bindings";
import { AdminFailure } from "./api";
import { kindOf, workspace } from "./workspace.svelte";

export type BannerKind = "error" | "success" | "info";

export interface Banner {
  id: number;
  kind: BannerKind;
  title: string;
  message: string;
}

let next = 1;

export const banners = $state<Banner[]>([]);

export function showBanner(kind: BannerKind, title: string, message: string): void {
  banners.push({ id: next++, kind, title, message });
  // Keep the newest few; old confirmations go on their own.
  if (banners.length > 4) banners.splice(0, banners.length - 4);
  if (kind === "success") {
    const id = next - 1;
    setTimeout(() => dismissBanner(id), 6000);
  }
}

/**
 * On leaving a screen: its confirmations (and notes) go with it, so "Tenant created" does not
 * follow you to Costs. Errors stay until dismissed: they may say what to do elsewhere.
 */
export function leaveScreen(): void {
  for (let index = banners.length - 1; index >= 0; index--) {
    if (banners[index].kind !== "error") banners.splice(index, 1);
  }
}

export function dismissBanner(id: number): void {
  const index = banners.findIndex((banner) => banner.id === id);
  if (index >= 0) banners.splice(index, 1);
}

// Typed by the backend's codes: a new code fails the type check until it has a title here. Where
// the same code means something else on a team server than on AWS, the title says which.
const titles: Record<ErrorCode, { any: string; aws?: string; server?: string }> = {
  invalid: { any: "Check the form" },
  not_found: { any: "Not found" },
  conflict: { any: "Cannot do that now" },
  storage: { any: "Tollgate could not save or read its data" },
  denied: { any: "Not allowed", aws: "AWS refused", server: "The server refused: your role may not do this" },
  session_expired: { any: "Sign in again", aws: "Your AWS session has expired", server: "The server no longer takes your admin token" },
  unavailable: { any: "Could not be reached", aws: "AWS could not be reached", server: "The server could not be reached" },
  cancelled: { any: "Stopped" },
  stack_owned: { any: "A CloudFormation stack owns this" },
  engine_running: { any: "Another Tollgate engine serves this database" },
};

/** The banner title of `code` on the current workspace. */
export function errorTitle(code: ErrorCode): string {
  const title = titles[code];
  if (!title) return "Error";
  const kind = kindOf(workspace.current);
  return (kind === "aws" ? title.aws : kind === "server" ? title.server : undefined) ?? title.any;
}

/** Shows an error from a command (or anything thrown) as a banner. */
export function showError(error: unknown): void {
  if (error instanceof AdminFailure) {
    showBanner("error", errorTitle(error.code), error.message);
  } else {
    showBanner("error", "Unexpected error", String(error));
  }
}
