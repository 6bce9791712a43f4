import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { emit } from "@tauri-apps/api/event";
import { describe, expect, it, vi } from "vitest";
import Settings from "./Settings.svelte";
import { fakeBackend } from "../test/ipc";
import { overview } from "../test/fixtures";
import { banners } from "../lib/banners.svelte";

describe("Settings", () => {
  it("recomputes with progress, and a cancel keeps the weeks done", async () => {
    let finish: (value: unknown) => void = () => {};
    const backend = fakeBackend(
      {
        list_prices: () => [],
        recompute_costs: () => new Promise((resolve) => (finish = resolve)),
        cancel_recompute: () => {
          finish({ rows: 700, changed: 12, unpriced: 0, cost_before: "10", cost_after: "9.5", cancelled: true, through: "2026-11-07" });
          return null;
        },
      },
      { events: true },
    );
    render(Settings, { overview, onchange: vi.fn() });
    await fireEvent.input(screen.getAllByLabelText("From").at(-1)!, { target: { value: "2026-11-01" } });
    await fireEvent.click(screen.getByRole("button", { name: "Recompute" }));
    await waitFor(() => expect(backend.callsOf("recompute_costs")).toEqual([{ workspace: "local", from: "2026-11-01", to: expect.any(String) }]));

    await emit("recompute-progress-event", { done_days: 7, total_days: 26, through: "2026-11-07" });
    expect(await screen.findByText("Through 2026-11-07 (7 of 26 days)")).toBeInTheDocument();
    expect(screen.getByRole("progressbar", { name: "Recompute progress" })).toHaveAttribute("aria-valuenow", "27");

    await fireEvent.click(screen.getByRole("button", { name: "Cancel" }));
    await waitFor(() => expect(banners.at(-1)).toMatchObject({ kind: "info", title: "Recompute cancelled" }));
    expect(banners.at(-1)?.message).toContain("Days 2026-11-01 to 2026-11-07 are recomputed");
    expect(backend.callsOf("cancel_recompute")).toHaveLength(1);
    expect(await screen.findByRole("button", { name: "Recompute" })).toBeInTheDocument();
  });

  it("adds an AWS workspace from its stack prefix, and says why when the stack is not there", async () => {
    const onchange = vi.fn();
    const backend = fakeBackend({
      list_prices: () => [],
      aws_add_workspace: (args) => {
        if (args.stackPrefix === "unit9") throw { code: "not_found", message: "no stack unit9-bedrock-saas in us-east-1" };
        return overview;
      },
    });
    render(Settings, { overview, onchange });
    const form = screen.getByRole("form", { name: "Add from a stack" });
    await fireEvent.input(screen.getByLabelText("Stack prefix"), { target: { value: "unit9" } });
    await fireEvent.click(screen.getByRole("button", { name: "Add from stack" }));
    await waitFor(() => expect(banners.at(-1)).toMatchObject({ kind: "error", message: "no stack unit9-bedrock-saas in us-east-1" }));
    expect(onchange).not.toHaveBeenCalled();

    await fireEvent.input(screen.getByLabelText("Stack prefix"), { target: { value: "unit1" } });
    await fireEvent.input(screen.getByLabelText("AWS profile"), { target: { value: "org-admin" } });
    await fireEvent.submit(form);
    await waitFor(() => expect(onchange).toHaveBeenCalled());
    expect(backend.callsOf("aws_add_workspace").at(-1)).toEqual({ name: "unit1", stackPrefix: "unit1", region: "us-east-1", profile: "org-admin" });
    expect(banners.at(-1)).toMatchObject({ kind: "success", title: "Workspace added" });
  });
});
