import { describe, expect, it } from "vitest";
import { banners, leaveScreen, showBanner } from "./banners.svelte";

describe("banners", () => {
  it("drop a screen's confirmations when it is left, and keep errors", () => {
    banners.splice(0, banners.length);
    showBanner("success", "Tenant created", "alpha");
    showBanner("error", "Tollgate could not save or read its data", "disk full");
    showBanner("info", "Note", "restarted");
    leaveScreen();
    expect(banners.map((banner) => banner.title)).toEqual(["Tollgate could not save or read its data"]);
  });
});

describe("error banners", () => {
  it("say whose refusal it is: an expired server token is not an expired AWS session nor a storage failure", async () => {
    const { errorTitle } = await import("./banners.svelte");
    const { workspace } = await import("./workspace.svelte");
    workspace.current = "server:team";
    expect(errorTitle("session_expired")).toBe("The server no longer takes your admin token");
    expect(errorTitle("unavailable")).toBe("The server could not be reached");
    expect(errorTitle("denied")).toBe("The server refused: your role may not do this");
    workspace.current = "prod";
    expect(errorTitle("session_expired")).toBe("Your AWS session has expired");
    workspace.current = "local";
    expect(errorTitle("storage")).toBe("Tollgate could not save or read its data");
    expect(errorTitle("session_expired")).toBe("Sign in again");
  });
});
