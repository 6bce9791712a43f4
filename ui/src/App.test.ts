import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { afterEach, describe, expect, it } from "vitest";
import App from "./App.svelte";
import { fakeBackend } from "./test/ipc";
import { overview, tenant } from "./test/fixtures";
import { workspace } from "./lib/workspace.svelte";
import type { Role, ServerStatus } from "./bindings";

const withServer = { ...overview, settings: { ...overview.settings, servers: [{ name: "team", url: "https://gw.example:8787", ca_cert: null }] } };

function status(role: Role, teams: string[] | null = null): ServerStatus {
  return {
    url: "https://gw.example:8787",
    version: "0.1.0",
    https: true,
    time_zone: "UTC",
    models: ["chat"],
    latency_ms: 12,
    session: { role, cost_centers: role === "viewer" ? ["CC-100"] : null, teams },
  };
}

function nav(): string[] {
  return within(screen.getByRole("navigation", { name: "Screens" }))
    .getAllByRole("button")
    .map((button) => button.textContent?.trim() ?? "")
    .filter((label) => !label.endsWith("theme"));
}

afterEach(() => {
  workspace.current = "local";
});

describe("a team server in the console", () => {
  it("shows the connection and the screens the token's role may use", async () => {
    const backend = fakeBackend({
      overview: () => withServer,
      server_status: () => status("viewer"),
      list_tenants: () => [tenant("alpha")],
    });
    render(App);
    await screen.findByRole("option", { name: "Server · team" });
    expect(nav()).toContain("Audit log");
    await fireEvent.change(screen.getByLabelText("Workspace"), { target: { value: "server:team" } });
    await screen.findByText(/Connected · 12 ms/);
    expect(screen.getByText(/Tollgate 0.1.0 · HTTPS · viewer/)).toBeInTheDocument();
    await waitFor(() => expect(nav()).toEqual(["Tenants & keys", "Costs", "Settings"]));
    expect(backend.callsOf("server_status")[0]).toEqual({ name: "team" });
    // A viewer reads tenants; nothing on the screen offers to change them.
    await waitFor(() => expect(backend.callsOf("list_tenants").at(-1)).toMatchObject({ workspace: "server:team" }));
    expect(screen.queryByRole("button", { name: "New tenant" })).not.toBeInTheDocument();
  });

  it("says so when the server stops answering, and clears when it is back", async () => {
    let up = false;
    fakeBackend({
      overview: () => withServer,
      server_status: () => {
        if (!up) throw { code: "unavailable", message: "cannot reach the server https://gw.example:8787: cannot connect (Connection refused)" };
        return status("admin");
      },
      list_tenants: () => [],
    });
    render(App);
    await screen.findByRole("option", { name: "Server · team" });
    await fireEvent.change(screen.getByLabelText("Workspace"), { target: { value: "server:team" } });
    expect(await screen.findByText("The server could not be reached")).toBeInTheDocument();
    expect(screen.getByText(/Connection refused/)).toBeInTheDocument();
    expect(screen.getByText("Not connected")).toBeInTheDocument();
    up = true;
    await fireEvent.click(screen.getByRole("button", { name: "Retry now" }));
    await screen.findByText(/Connected · 12 ms/);
    expect(screen.queryByText("The server could not be reached")).not.toBeInTheDocument();
  });

  it("offers a tester the playground only", async () => {
    fakeBackend({
      overview: () => withServer,
      server_status: () => status("tester", ["alpha"]),
      list_tenants: () => [],
      team_models: () => ["chat"],
    });
    render(App);
    await screen.findByRole("option", { name: "Server · team" });
    await fireEvent.change(screen.getByLabelText("Workspace"), { target: { value: "server:team" } });
    await waitFor(() => expect(nav()).toEqual(["Playground", "Settings"]));
    await screen.findByRole("heading", { name: "Playground" });
  });
});

describe("a database another engine serves", () => {
  it("offers to manage that server instead of starting a second engine", async () => {
    fakeBackend({
      overview: () => ({
        ...overview,
        engine: { ...overview.engine, running: false, base_url: null, curl_example: null, error: "/data/tollgate.db is already served by tollgate serve (pid 42).", another_engine: true },
      }),
      list_tenants: () => [],
      list_prices: () => [],
    });
    render(App);
    expect(await screen.findByText("A Tollgate server already serves this database")).toBeInTheDocument();
    await fireEvent.click(screen.getByRole("button", { name: "Add it as a server" }));
    expect(await screen.findByRole("form", { name: "Add a server" })).toBeInTheDocument();
  });
});
