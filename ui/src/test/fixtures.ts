import type { CostScreen, Overview, TenantRow } from "../bindings";

export function tenant(team_id: string, extra: Partial<TenantRow> = {}): TenantRow {
  return {
    team_id,
    name: team_id,
    cost_center: "CC-1",
    status: "active",
    spend: "12.5",
    budget: "100",
    budget_used_bp: 1250,
    rate: "10/s burst 20",
    quota: null,
    tokens_per_minute: null,
    allowed_models: [],
    active_keys: 1,
    ...extra,
  };
}

export const overview: Overview = {
  data_dir: "/data",
  config_path: "/data/tollgate.toml",
  engine: { running: true, port: 8787, base_url: "http://127.0.0.1:8787", curl_example: "curl http://127.0.0.1:8787 -H \"Authorization: Bearer $TOLLGATE_KEY\"", error: null, another_engine: false },
  models: [{ id: "chat", provider: "OpenAI-compatible" }],
  local_model: { id: "smollm2-135m-instruct", installed: false, install_command: "tollgate model install" },
  aws_workspaces: [],
  settings: { gateway_port: 8787, theme: "light", servers: [] },
};

export function costScreen(rowsBy: "tenant" | "model" | "cost_center", names: string[], estimatedTokens = 0): CostScreen {
  return {
    view: {
      range: { from: "2026-11-01", to: "2026-11-27", period_end: "2026-11-30" },
      scope: { cost_center: null, team_id: null, model_id: null },
      total: "30",
      daily: [],
      cumulative: [],
      budget: "100",
      forecast: { at_period_end: "33.33", period_end: "2026-11-30" },
      // As the backend ranks them: tenants only when the rows are tenants.
      top_tenants: rowsBy === "tenant" ? names.map((name, index) => ({ name, cost: index === 0 ? "20" : "10", share_bp: index === 0 ? 6667 : 3333 })) : [],
      top_models: [{ name: "chat", cost: "30", share_bp: 10000 }],
      rows_by: rowsBy,
      rows: names.map((name, index) => ({ name, cost_center: "CC-1", invocations: 10 * (index + 1), input_tokens: 1000, output_tokens: 500, estimated_tokens: index === 0 ? estimatedTokens : 0, cost: index === 0 ? "20" : "10" })),
      estimated_calls: estimatedTokens > 0 ? 3 : 0,
      estimated_tokens: estimatedTokens,
    },
    daily_svg: "<svg data-chart=\"daily\"></svg>",
    cumulative_svg: "<svg data-chart=\"cumulative\"></svg>",
    top_svg: "<svg data-chart=\"top\"></svg>",
  };
}
