// The banners at the top of the window: errors with what to do, and confirmations.

import type { ErrorCode } from "../bindings";
import { AdminFailure } from "./api";

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

// Typed by the backend's codes: a new code fails the type check until it has a title here.
const titles: Record<ErrorCode, string> = {
  invalid: "Check the form",
  not_found: "Not found",
  conflict: "Cannot do that now",
  storage: "Tollgate could not save or read its data",
  denied: "AWS refused",
  session_expired: "Your AWS session has expired",
  unavailable: "AWS could not be reached",
  cancelled: "Stopped",
  stack_owned: "A CloudFormation stack owns this",
  engine_running: "Another Tollgate engine serves this database",
};

/** Shows an error from a command (or anything thrown) as a banner. */
export function showError(error: unknown): void {
  if (error instanceof AdminFailure) {
    showBanner("error", titles[error.code] ?? "Error", error.message);
  } else {
    showBanner("error", "Unexpected error", String(error));
  }
}
