import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { emit } from "@tauri-apps/api/event";
import { describe, expect, it, vi } from "vitest";
import LocalModelInstall from "./LocalModelInstall.svelte";
import { fakeBackend } from "../test/ipc";
import { overview } from "../test/fixtures";
import { banners } from "../lib/banners.svelte";

describe("LocalModelInstall", () => {
  it("shows the download's progress, then tells the app the model is there", async () => {
    let finish: (value: unknown) => void = () => {};
    const backend = fakeBackend(
      { install_local_model: () => new Promise((resolve) => (finish = resolve)) },
      { events: true },
    );
    const onchange = vi.fn();
    render(LocalModelInstall, { overview, onchange });
    await fireEvent.click(screen.getByRole("button", { name: "Install" }));
    await waitFor(() => expect(backend.callsOf("install_local_model")).toHaveLength(1));

    await emit("model-install-event", { stage: "downloading", done: 46_500_000, total: 93_000_000 });
    expect(await screen.findByText("Downloading 46.5 of 93.0 MB")).toBeInTheDocument();
    expect(screen.getByRole("progressbar", { name: "Install progress" })).toHaveAttribute("aria-valuenow", "40");
    await emit("model-install-event", { stage: "converting", done: 0, total: 0 });
    expect(await screen.findByText(/Converting the weights/)).toBeInTheDocument();

    finish({ ...overview, local_model: { ...overview.local_model, installed: true } });
    await waitFor(() => expect(onchange).toHaveBeenCalledOnce());
    expect(banners.at(-1)).toMatchObject({ kind: "success", title: "Local model installed" });
    expect(screen.getByRole("button", { name: "Install" })).toBeInTheDocument();
  });

  it("cancels, and says so without an error", async () => {
    let fail: (error: unknown) => void = () => {};
    const backend = fakeBackend(
      {
        install_local_model: () => new Promise((_, reject) => (fail = reject)),
        cancel_model_install: () => {
          fail({ code: "cancelled", message: "the model install was cancelled; nothing was installed" });
          return null;
        },
      },
      { events: true },
    );
    const onchange = vi.fn();
    render(LocalModelInstall, { overview, onchange });
    await fireEvent.click(screen.getByRole("button", { name: "Install" }));
    await fireEvent.click(await screen.findByRole("button", { name: "Cancel" }));
    await waitFor(() => expect(banners.at(-1)).toMatchObject({ kind: "info", title: "Install cancelled" }));
    expect(backend.callsOf("cancel_model_install")).toHaveLength(1);
    expect(onchange).not.toHaveBeenCalled();
    expect(await screen.findByRole("button", { name: "Install" })).toBeInTheDocument();
  });
});
