import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import AwsTenants from "./AwsTenants.svelte";
import Costs from "./Costs.svelte";
import Playground from "./Playground.svelte";
import { banners } from "../lib/banners.svelte";
import { fakeBackend } from "../test/ipc";
import { costScreen, overview } from "../test/fixtures";

const plan = {
  team_id: "team-a", name: "Team A", cost_center: "CC-1", managed: false, rate: "10/s burst 20", rate_source: "plan", quota: "1000/month",
  stage: "unit1_prod", stack: null, spend: "4.5", budget: null, hard_budget: false, blocked: null,
};
/** A team stack of the reference deployment whose hard budget Tollgate found spent. */
const stackTeam = {
  ...plan, team_id: "team1", name: "team1_api_key_plan_prod", cost_center: "", rate: "10000/s burst 5000", rate_source: "stage", quota: null,
  stage: "team1_prod", stack: "team1-bedrock-saas", spend: "12.5", budget: "10", hard_budget: true,
  blocked: { period_start: "2026-12-01", keys: ["k9"], spent: "12.5", budget: "10", at_ms: 0 },
};

describe("AWS workspace", () => {
  it("lists the stage's usage plans, adopted ones marked, and creates one with limits only", async () => {
    const backend = fakeBackend({
      aws_tenants: () => [plan, stackTeam],
      aws_create_tenant: () => null,
      aws_keys: () => [{ key_id: "k1", name: "app", enabled: true, created_at_ms: 0, disable_after_ms: null }],
      aws_rotate_key: () => ({ key: { key_id: "k2", name: "app", enabled: true, created_at_ms: 1, disable_after_ms: null }, secret: "aws-secret-value" }),
    });
    render(AwsTenants, { workspace: "prod" });
    const table = await screen.findByRole("table", { name: "Tenants" });
    await waitFor(() => expect(within(table).getByText("adopted")).toBeInTheDocument());
    expect(within(table).getByText("$4.50")).toBeInTheDocument();
    expect(backend.callsOf("aws_tenants")[0]).toEqual({ workspace: "prod", search: "" });

    await fireEvent.click(screen.getByRole("button", { name: "New tenant" }));
    const dialog = screen.getByRole("dialog", { name: "New tenant" });
    expect(within(dialog).queryByLabelText("Tokens per minute")).not.toBeInTheDocument();
    await fireEvent.input(within(dialog).getByLabelText(/Team id/), { target: { value: "team-b" } });
    await fireEvent.input(within(dialog).getByLabelText("Rate limit"), { target: { value: "5/s" } });
    await fireEvent.input(within(dialog).getByLabelText("Monthly budget (USD)"), { target: { value: "100" } });
    await fireEvent.click(within(dialog).getByLabelText(/Disable the plan's keys/));
    await fireEvent.click(within(dialog).getByRole("button", { name: "Create tenant" }));
    await waitFor(() => expect(backend.callsOf("aws_create_tenant")).toHaveLength(1));
    expect(backend.callsOf("aws_create_tenant")[0]).toMatchObject({ workspace: "prod", form: { team_id: "team-b", rate: "5/s", budget: "100", hard_budget: true } });

    // The stack's team: its stage's rate, its stack, and the block its spent budget put on it.
    const row = within(table).getByRole("button", { name: "team1" }).closest("tr")!;
    expect(row).toHaveTextContent("team1-bedrock-saas");
    expect(row).toHaveTextContent("from the stage");
    expect(within(row).getByText("keys off: budget spent")).toHaveAttribute("title", expect.stringContaining("disabled keys k9"));

    await fireEvent.click(within(table).getByRole("button", { name: "team-a" }));
    await fireEvent.click(await screen.findByRole("button", { name: "Rotate" }));
    expect(await screen.findByTestId("new-secret")).toHaveTextContent("aws-secret-value");
    expect(backend.callsOf("aws_rotate_key")[0]).toEqual({ workspace: "prod", teamId: "team-a", keyId: "k1", graceHours: 24 });
  });

  it("syncs now with progress, and reloads the costs after", async () => {
    let finish: (value: unknown) => void = () => {};
    const backend = fakeBackend(
      {
        aws_tenants: () => [plan],
        cost_screen: () => costScreen("tenant", ["team-a"]),
        tenant_choices: () => [{ team_id: "team-a", cost_center: "CC-1" }],
        aws_sync: () => new Promise((resolve) => (finish = resolve)),
        aws_cancel_sync: () => null,
        export_chart_png: () => "/data/exports/chart-top-all.png",
      },
      { events: true },
    );
    render(Costs, { theme: "light", workspace: "prod" });
    expect(await screen.findByTestId("total")).toHaveTextContent("$30.00");
    // Rows by the label callers sent (AWS workspaces only).
    await fireEvent.click(screen.getByLabelText("Rows by label"));
    await waitFor(() => expect(backend.callsOf("cost_screen").at(-1)).toMatchObject({ scope: { by_label: true, by_cost_center: false } }));
    // Charts export as PNG from AWS workspaces too.
    await fireEvent.click(screen.getAllByRole("button", { name: "PNG" })[2]);
    await waitFor(() => expect(backend.callsOf("export_chart_png")).toEqual([expect.objectContaining({ workspace: "prod", kind: "top", theme: "light" })]));
    await fireEvent.click(screen.getByRole("button", { name: "Sync now" }));
    const { emit } = await import("@tauri-apps/api/event");
    await emit("sync-progress-event", { workspace: "prod", done: 3, total: 10, key: "succeed/2026-11-03.csv" });
    expect(await screen.findByText("Day 3 of 10: succeed/2026-11-03.csv")).toBeInTheDocument();
    await fireEvent.click(screen.getByRole("button", { name: "Cancel" }));
    await waitFor(() => expect(backend.callsOf("aws_cancel_sync")).toEqual([{ workspace: "prod" }]));
    const before = backend.callsOf("cost_screen").length;
    finish({
      listed: 10, fetched: 3, unchanged: 0, rows: 30, bad_lines: 0, bad_line_samples: [], error_files: 1, cancelled: true, today_lines: null,
      disabled_keys: [], budget_blocked: ["team-a"], budget_unblocked: [],
    });
    await waitFor(() => expect(backend.callsOf("cost_screen").length).toBe(before + 1));
    await waitFor(() => expect(banners.at(-1)).toMatchObject({ kind: "info", title: "Sync cancelled" }));
    expect(banners.at(-1)?.message).toContain("hard budget spent, keys disabled: team-a");
    expect(banners.at(-1)?.message).toContain("1 error file in the bucket");
    expect(await screen.findByRole("button", { name: "Sync now" })).toBeInTheDocument();
  });

  it("runs the playground through the stack as the team by default, and on Bedrock when asked", async () => {
    const backend = fakeBackend(
      {
        aws_tenants: () => [plan],
        aws_models: (args) => {
          if (args.route === "stack") return ["anthropic.claude-3-haiku-20240307-v1:0"];
          throw { code: "denied", message: "AccessDenied: bedrock:ListFoundationModels" };
        },
        aws_run_playground: (args) => ({
          result: {
            text: "Hello", input_tokens: 0, output_tokens: 0, latency_ms: 1300, time_to_first_token_ms: 1300, cost: "0", stopped: false,
            priced_by_deployment: args.route === "stack",
          },
          budget_left: null,
        }),
      },
      { events: true },
    );
    render(Playground, { overview, workspace: "prod" });
    await waitFor(() => expect(screen.getByLabelText("Team")).toHaveValue("team-a"));
    expect(screen.getByLabelText("Send through")).toHaveValue("stack");
    await waitFor(() => expect(screen.getByRole("combobox", { name: "Model" })).toHaveValue("anthropic.claude-3-haiku-20240307-v1:0"));
    expect(backend.callsOf("aws_models")[0]).toEqual({ workspace: "prod", route: "stack", teamId: "team-a" });
    await fireEvent.input(screen.getByLabelText("Prompt"), { target: { value: "Hi" } });
    await fireEvent.click(screen.getByRole("button", { name: "Send" }));
    await waitFor(() => expect(screen.getByLabelText("Call statistics")).toHaveTextContent("in the team's next cost report"));
    expect(backend.callsOf("aws_run_playground")[0]).toMatchObject({
      workspace: "prod",
      teamId: "team-a",
      route: "stack",
      request: { model: "anthropic.claude-3-haiku-20240307-v1:0", prompt: "Hi" },
    });

    // Bedrock directly: its catalog is out of reach here, so the model id is typed.
    await fireEvent.change(screen.getByLabelText("Send through"), { target: { value: "bedrock" } });
    const model = await screen.findByRole("textbox", { name: "Model" });
    await fireEvent.input(model, { target: { value: "anthropic.claude-3-haiku-20240307-v1:0" } });
    await fireEvent.click(screen.getByRole("button", { name: "Send" }));
    await waitFor(() => expect(backend.callsOf("aws_run_playground")).toHaveLength(2));
    expect(backend.callsOf("aws_run_playground")[1]).toMatchObject({ route: "bedrock" });
    expect(await screen.findAllByTestId("cost")).not.toHaveLength(0);
  });
});
