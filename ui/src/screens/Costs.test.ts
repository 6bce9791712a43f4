import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import Costs from "./Costs.svelte";
import { fakeBackend } from "../test/ipc";
import { costScreen, tenant } from "../test/fixtures";

describe("Costs", () => {
  it("shows the charts and the table, drills down tenant → model, and exports what is shown", async () => {
    const backend = fakeBackend({
      tenant_choices: () => [tenant("alpha"), tenant("beta", { cost_center: "CC-2" })],
      cost_screen: ({ scope }) => {
        const { team_id, model_id } = scope as { team_id: string | null; model_id: string | null };
        if (model_id) return costScreen("model", ["k1"]);
        return team_id ? costScreen("model", ["chat", "other"]) : costScreen("tenant", ["alpha", "beta"]);
      },
      export_costs: ({ format }) => `/data/exports/costs-alpha.${format}`,
      export_chart_png: () => "/data/exports/chart.png",
    });
    render(Costs, { theme: "dark" });
    expect(await screen.findByTestId("total")).toHaveTextContent("$30.00");
    expect(screen.queryByLabelText("Rows by label")).not.toBeInTheDocument();
    expect(document.querySelector('[data-chart="daily"]')).not.toBeNull();
    const table = screen.getByRole("table", { name: "Costs by Tenant" });
    expect(within(table).getByText("66.7%")).toBeInTheDocument();
    expect(backend.callsOf("cost_screen")[0]).toMatchObject({ preset: { preset: "this_month" }, theme: "dark" });

    await fireEvent.click(within(table).getByRole("button", { name: "alpha" }));
    await screen.findByRole("table", { name: "Costs by Model" });
    expect(backend.callsOf("cost_screen").at(-1)).toMatchObject({ scope: { team_id: "alpha", model_id: null } });
    expect(screen.getByRole("navigation", { name: "Drill-down" })).toHaveTextContent(/All tenants›\s*alpha/);

    await fireEvent.click(screen.getByRole("button", { name: "Last 90 days" }));
    await waitFor(() => expect(backend.callsOf("cost_screen").at(-1)).toMatchObject({ preset: { preset: "last_90_days" }, scope: { team_id: "alpha" } }));

    await fireEvent.click(screen.getByRole("button", { name: "Export CSV" }));
    await fireEvent.click(screen.getByRole("button", { name: "Export JSON" }));
    const asked = { workspace: "local", preset: { preset: "last_90_days" }, scope: { cost_center: null, team_id: "alpha", model_id: null, by_cost_center: false, by_label: false } };
    await waitFor(() =>
      expect(backend.callsOf("export_costs")).toEqual([
        { ...asked, format: "csv" },
        { ...asked, format: "json" },
      ]),
    );
    await fireEvent.click(screen.getAllByRole("button", { name: "PNG" })[0]);
    await waitFor(() => expect(backend.callsOf("export_chart_png")[0]).toMatchObject({ kind: "daily_by_model", theme: "dark" }));

    await fireEvent.click(screen.getByRole("button", { name: "All tenants" }));
    await screen.findByRole("table", { name: "Costs by Tenant" });
  });

  it("shows estimated usage apart, and only when there is some", async () => {
    fakeBackend({
      tenant_choices: () => [tenant("alpha")],
      cost_screen: () => costScreen("tenant", ["alpha", "beta"], 1234),
    });
    render(Costs, { theme: "light" });
    const note = await screen.findByTestId("estimated");
    expect(note).toHaveTextContent("3 calls (1,234 tokens)");
    const table = screen.getByRole("table", { name: "Costs by Tenant" });
    expect(within(table).getByRole("columnheader", { name: "Of which estimated" })).toBeInTheDocument();
    const alpha = within(table).getByRole("button", { name: "alpha" }).closest("tr") as HTMLElement;
    expect(within(alpha).getByText("1,234")).toBeInTheDocument();
  });

  it("has no estimated note or column when every count came from the models", async () => {
    fakeBackend({
      tenant_choices: () => [tenant("alpha")],
      cost_screen: () => costScreen("tenant", ["alpha"]),
    });
    render(Costs, { theme: "light" });
    await screen.findByTestId("total");
    expect(screen.queryByTestId("estimated")).not.toBeInTheDocument();
    expect(screen.queryByRole("columnheader", { name: "Of which estimated" })).not.toBeInTheDocument();
  });

  it("sends a custom range as dates", async () => {
    const backend = fakeBackend({ tenant_choices: () => [], cost_screen: () => costScreen("tenant", []) });
    render(Costs, { theme: "light" });
    await fireEvent.click(await screen.findByRole("button", { name: "Custom" }));
    await fireEvent.input(screen.getByLabelText("From"), { target: { value: "2026-01-01" } });
    await fireEvent.input(screen.getByLabelText("To"), { target: { value: "2026-01-31" } });
    await waitFor(() => expect(backend.callsOf("cost_screen").at(-1)).toMatchObject({ preset: { preset: "custom", from: "2026-01-01", to: "2026-01-31" } }));
    // No usage: an empty state, no charts with $0–$0 axes and no empty table.
    const empty = await screen.findByTestId("no-usage");
    expect(empty).toHaveTextContent("No usage from 2026-11-01 to 2026-11-27");
    expect(document.querySelector("[data-chart]")).toBeNull();
    expect(screen.queryByRole("table")).not.toBeInTheDocument();
  });

  it("titles the top chart's card as the chart is drawn: tenants only when the rows are tenants", async () => {
    fakeBackend({
      tenant_choices: () => [tenant("alpha")],
      cost_screen: ({ scope }) => {
        const { team_id } = scope as { team_id: string | null };
        return team_id ? costScreen("model", ["chat"]) : costScreen("tenant", ["alpha"]);
      },
    });
    render(Costs, { theme: "light" });
    expect(await screen.findByRole("img", { name: "Top tenants" })).toBeInTheDocument();
    await fireEvent.click(within(screen.getByRole("table", { name: "Costs by Tenant" })).getByRole("button", { name: "alpha" }));
    expect(await screen.findByRole("img", { name: "Top models" })).toBeInTheDocument();
    expect(screen.queryByText("Top tenants")).not.toBeInTheDocument();
  });

  it("titles the top chart of cost-center rows as the models it ranks, not as tenants", async () => {
    // All tenants, rows by cost center: the backend ranks models there (no tenants in the rows).
    fakeBackend({ tenant_choices: () => [tenant("alpha")], cost_screen: () => costScreen("cost_center", ["CC-1"]) });
    render(Costs, { theme: "light" });
    await screen.findByTestId("total");
    expect(screen.getByText("Top models")).toBeInTheDocument();
    expect(screen.queryByText("Top tenants")).not.toBeInTheDocument();
  });

  it("pages a long table, 25 rows at a time by default", async () => {
    const names = Array.from({ length: 60 }, (_, index) => `team-${String(index).padStart(2, "0")}`);
    fakeBackend({ tenant_choices: () => [], cost_screen: () => costScreen("tenant", names) });
    render(Costs, { theme: "light" });
    const table = await screen.findByRole("table", { name: "Costs by Tenant" });
    const bodyRows = () => table.querySelectorAll("tbody tr");
    expect(bodyRows()).toHaveLength(25);
    expect(screen.getByText("1–25 of 60")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "team-25" })).toBeNull();

    await fireEvent.click(screen.getByRole("button", { name: "Next page" }));
    expect(await screen.findByRole("button", { name: "team-25" })).toBeInTheDocument();
    expect(screen.getByText("26–50 of 60")).toBeInTheDocument();

    await fireEvent.click(screen.getByRole("button", { name: "Last page" }));
    await waitFor(() => expect(bodyRows()).toHaveLength(10));
    expect(screen.getByRole("button", { name: "Next page" })).toBeDisabled();

    await fireEvent.change(screen.getByLabelText("Rows per page"), { target: { value: "100" } });
    await waitFor(() => expect(bodyRows()).toHaveLength(60));
    expect(screen.getByText("Page 1 of 1")).toBeInTheDocument();
  });
});
