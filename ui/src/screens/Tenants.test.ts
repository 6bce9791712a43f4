import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import Tenants from "./Tenants.svelte";
import { fakeBackend } from "../test/ipc";
import { overview, tenant } from "../test/fixtures";

describe("Tenants screen", () => {
  it("lists tenants with spend against budget and searches through the backend", async () => {
    const backend = fakeBackend({
      list_tenants: ({ search }) => (search ? [tenant("beta", { spend: "0.000112", budget: null, budget_used_bp: null })] : [tenant("alpha"), tenant("beta")]),
    });
    render(Tenants, { overview });
    const table = await screen.findByRole("table", { name: "Tenants" });
    await waitFor(() => expect(within(table).getAllByRole("row")).toHaveLength(3));
    expect(within(table).getAllByText("$12.50")).toHaveLength(2);
    expect(within(table).getAllByText("12.5% of $100")).toHaveLength(2);

    await fireEvent.input(screen.getByLabelText("Search tenants"), { target: { value: "be" } });
    await waitFor(() => expect(backend.callsOf("list_tenants").at(-1)).toEqual({ workspace: "local", search: "be", sort: "team_id" }));
    await waitFor(() => expect(within(table).getAllByRole("row")).toHaveLength(2));
    expect(within(table).getByText("$0.000112")).toBeInTheDocument();
  });

  it("creates a tenant from the form and shows the backend's field error without closing", async () => {
    let attempts = 0;
    const backend = fakeBackend({
      list_tenants: () => [],
      create_tenant: () => {
        attempts += 1;
        if (attempts === 1) throw { code: "invalid", message: "rate: expected a number before /" };
        return null;
      },
    });
    render(Tenants, { overview });
    await fireEvent.click(await screen.findByRole("button", { name: "Create the first tenant" }));
    const dialog = screen.getByRole("dialog", { name: "New tenant" });
    await fireEvent.input(within(dialog).getByLabelText(/Team id/), { target: { value: "gamma" } });
    await fireEvent.input(within(dialog).getByLabelText("Rate limit"), { target: { value: "x/s" } });
    await fireEvent.input(within(dialog).getByLabelText("Monthly budget (USD)"), { target: { value: "250" } });
    await fireEvent.input(within(dialog).getByLabelText(/^Allowed models/), { target: { value: "anthropic.*, chat" } });
    await fireEvent.click(within(dialog).getByRole("button", { name: "Create tenant" }));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent("rate: expected a number before /");

    await fireEvent.input(within(dialog).getByLabelText("Rate limit"), { target: { value: "10/s" } });
    await fireEvent.click(within(dialog).getByRole("button", { name: "Create tenant" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(backend.callsOf("create_tenant").at(-1)).toMatchObject({
      form: { team_id: "gamma", rate: "10/s", budget: "250", allowed_models: ["anthropic.*", "chat"], burst: null },
    });
  });

  it("deletes only after the team id is typed", async () => {
    const backend = fakeBackend({
      list_tenants: () => [tenant("alpha")],
      list_keys: () => [],
      delete_tenant: () => null,
    });
    render(Tenants, { overview });
    await fireEvent.click(await screen.findByRole("button", { name: "alpha" }));
    await fireEvent.click(screen.getByRole("button", { name: "Delete" }));
    const dialog = screen.getByRole("dialog", { name: "Delete alpha?" });
    const confirm = within(dialog).getByRole("button", { name: "Delete tenant" });
    expect(confirm).toBeDisabled();
    await fireEvent.input(within(dialog).getByLabelText("Confirm team id"), { target: { value: "alpha" } });
    expect(confirm).toBeEnabled();
    await fireEvent.click(confirm);
    await waitFor(() => expect(backend.callsOf("delete_tenant")).toEqual([{ workspace: "local", teamId: "alpha", confirm: "alpha" }]));
  });

  it("shows a new key's secret once, with the curl line filled in", async () => {
    const backend = fakeBackend({
      list_tenants: () => [tenant("alpha")],
      list_keys: () => [],
      create_key: () => ({
        key: { key_id: "k1", team_id: "alpha", name: "ci", prefix: "tg_abcd", status: "active", created_at_ms: 0, expires_at_ms: null, last_used_at_ms: null },
        secret: "tg_secretvalue",
      }),
    });
    render(Tenants, { overview });
    await fireEvent.click(await screen.findByRole("button", { name: "alpha" }));
    await fireEvent.input(await screen.findByLabelText("New key name"), { target: { value: "ci" } });
    await fireEvent.click(screen.getByRole("button", { name: "Create key" }));
    expect(await screen.findByTestId("new-secret")).toHaveTextContent("tg_secretvalue");
    expect(screen.getByText(/Bearer tg_secretvalue/)).toBeInTheDocument();
    expect(backend.callsOf("create_key")).toEqual([{ workspace: "local", teamId: "alpha", name: "ci" }]);
    await fireEvent.click(screen.getByRole("button", { name: "I have saved it" }));
    expect(screen.queryByTestId("new-secret")).not.toBeInTheDocument();
  });
});
