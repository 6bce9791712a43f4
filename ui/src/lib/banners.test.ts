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
