import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import Settings from "./Settings.svelte";
import { fakeBackend } from "../test/ipc";
import { overview } from "../test/fixtures";

describe("adding a team server", () => {
  it("sends the address and token, and shows the server's refusal in the form", async () => {
    let attempts = 0;
    const backend = fakeBackend({
      list_prices: () => [],
      add_server: () => {
        attempts += 1;
        if (attempts === 1) throw { code: "session_expired", message: "the server no longer takes this admin token (invalid admin token): enter a new one" };
        return { url: "https://gw.example:8787", version: "0.1.0", https: true, time_zone: "UTC", models: [], latency_ms: 9, session: { role: "admin", cost_centers: null, teams: null } };
      },
    });
    let changed = 0;
    render(Settings, { overview, onchange: () => (changed += 1) });
    const form = await screen.findByRole("form", { name: "Add a server" });
    await fireEvent.input(screen.getByLabelText("Server name"), { target: { value: "team" } });
    await fireEvent.input(screen.getByLabelText("Address"), { target: { value: "https://gw.example:8787" } });
    await fireEvent.input(screen.getByLabelText("Admin token"), { target: { value: "tga_wrong" } });
    await fireEvent.submit(form);
    expect(await screen.findByRole("alert")).toHaveTextContent("enter a new one");
    expect(changed).toBe(0);
    await fireEvent.input(screen.getByLabelText("Admin token"), { target: { value: "tga_right" } });
    await fireEvent.submit(form);
    await waitFor(() => expect(changed).toBe(1));
    expect(backend.callsOf("add_server").at(-1)).toEqual({ entry: { name: "team", url: "https://gw.example:8787", ca_cert: null }, token: "tga_right" });
  });
});
