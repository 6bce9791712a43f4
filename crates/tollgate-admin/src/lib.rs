//! The console's backend, with no Tauri in it: every action the desktop console offers is a
//! function here, tested without a window. `src-tauri/` only translates commands to these.

mod charts;
mod costs;
mod engine;
mod error;
mod local;
mod playground;
mod range;

pub use charts::{ChartKind, Theme, chart_png, chart_svg, money_text};
pub use costs::{
    CostRow, CostScope, CostView, DayCost, Forecast, Ranked, RowsBy, budget_left, cost_view,
    rows_csv,
};
pub use engine::Engine;
pub use error::{AdminError, ErrorCode};
pub use local::{KeyRow, LocalWorkspace, NewKey, TenantForm, TenantRow, TenantSort};
pub use playground::{PlaygroundRequest, PlaygroundResult, run as run_playground, run_bedrock};
pub use range::{DateRange, RangePreset};
