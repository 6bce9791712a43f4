import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { emit } from "@tauri-apps/api/event";
import { describe, expect, it } from "vitest";
import Playground from "./Playground.svelte";
import { fakeBackend } from "../test/ipc";
import { overview, tenant } from "../test/fixtures";

describe("Playground", () => {
  it("streams the answer token by token as the chosen team, then shows the call's numbers", async () => {
    let finish: (value: unknown) => void = () => {};
    const backend = fakeBackend(
      {
        list_tenants: () => [tenant("alpha"), tenant("off", { status: "disabled" })],
        team_models: () => ["chat", "other"],
        run_playground: () => new Promise((resolve) => (finish = resolve)),
      },
      { events: true },
    );
    render(Playground, { overview });
    await waitFor(() => expect(screen.getByLabelText("Model")).toHaveValue("chat"));
    expect(screen.getByLabelText("Team").querySelectorAll("option")).toHaveLength(1);
    await fireEvent.input(screen.getByLabelText("Prompt"), { target: { value: "Hello?" } });
    await fireEvent.click(screen.getByRole("button", { name: "Send" }));
    await waitFor(() => expect(backend.callsOf("run_playground")).toHaveLength(1));
    const call = backend.callsOf("run_playground")[0];
    expect(call).toMatchObject({ teamId: "alpha", request: { model: "chat", prompt: "Hello?", max_tokens: 256 } });

    await emit("playground-token", { run_id: call.runId, text: "Hi" });
    await waitFor(() => expect(screen.getByTestId("answer")).toHaveTextContent("Hi"));
    await emit("playground-token", { run_id: call.runId, text: " there" });
    await waitFor(() => expect(screen.getByTestId("answer")).toHaveTextContent("Hi there"));
    expect(screen.getByRole("button", { name: "Stop" })).toBeInTheDocument();

    finish({
      result: { text: "Hi there", input_tokens: 12, output_tokens: 2, latency_ms: 420, time_to_first_token_ms: 95, cost: "0.000112", stopped: false },
      budget_left: "87.5",
    });
    expect(await screen.findByTestId("cost")).toHaveTextContent("$0.000112");
    const stats = screen.getByLabelText("Call statistics");
    expect(stats).toHaveTextContent("12 / 2");
    expect(stats).toHaveTextContent("95 ms");
    expect(stats).toHaveTextContent("$87.50");
    expect(screen.queryByRole("button", { name: "Stop" })).not.toBeInTheDocument();
  });

  it("stops a running answer", async () => {
    const backend = fakeBackend(
      {
        list_tenants: () => [tenant("alpha")],
        team_models: () => ["chat"],
        run_playground: () => new Promise(() => {}),
        stop_playground: () => null,
      },
      { events: true },
    );
    render(Playground, { overview });
    await waitFor(() => expect(screen.getByLabelText("Model")).toHaveValue("chat"));
    await fireEvent.input(screen.getByLabelText("Prompt"), { target: { value: "Long story" } });
    await fireEvent.click(screen.getByRole("button", { name: "Send" }));
    await fireEvent.click(await screen.findByRole("button", { name: "Stop" }));
    const runId = backend.callsOf("run_playground")[0].runId;
    await waitFor(() => expect(backend.callsOf("stop_playground")).toEqual([{ runId }]));
  });

  it("answers with two models side by side, each with its own numbers", async () => {
    const finishers: Record<string, (value: unknown) => void> = {};
    const backend = fakeBackend(
      {
        list_tenants: () => [tenant("alpha")],
        team_models: () => ["chat", "other"],
        run_playground: ({ request }) =>
          new Promise((resolve) => (finishers[(request as { model: string }).model] = resolve)),
        stop_playground: () => null,
      },
      { events: true },
    );
    render(Playground, { overview });
    await waitFor(() => expect(screen.getByLabelText("Model")).toHaveValue("chat"));
    await fireEvent.change(screen.getByLabelText("Compare with"), { target: { value: "other" } });
    await fireEvent.input(screen.getByLabelText("Prompt"), { target: { value: "Which is better?" } });
    await fireEvent.click(screen.getByRole("button", { name: "Send" }));
    await waitFor(() => expect(backend.callsOf("run_playground")).toHaveLength(2));
    const [first, second] = backend.callsOf("run_playground") as { runId: number; request: { model: string; prompt: string } }[];
    expect([first.request.model, second.request.model]).toEqual(["chat", "other"]);
    expect(first.runId).not.toBe(second.runId);
    expect(second.request.prompt).toBe("Which is better?");

    await emit("playground-token", { run_id: first.runId, text: "Mine" });
    await emit("playground-token", { run_id: second.runId, text: "No, mine" });
    const left = await screen.findByRole("article", { name: "Answer from chat" });
    const right = screen.getByRole("article", { name: "Answer from other" });
    await waitFor(() => expect(left).toHaveTextContent("Mine"));
    expect(right).toHaveTextContent("No, mine");

    await fireEvent.click(screen.getByRole("button", { name: "Stop" }));
    await waitFor(() => expect(backend.callsOf("stop_playground")).toHaveLength(2));
    const result = (text: string, cost: string) => ({
      result: { text, input_tokens: 7, output_tokens: 2, latency_ms: 100, time_to_first_token_ms: 20, cost, stopped: true },
      budget_left: null,
    });
    finishers.chat(result("Mine", "0.000001"));
    finishers.other(result("No, mine", "0.000002"));
    await waitFor(() => expect(screen.getAllByTestId("cost").map((cell) => cell.textContent)).toEqual(["$0.000001", "$0.000002"]));
    expect(screen.getByRole("button", { name: "Send" })).toBeEnabled();
  });
});
