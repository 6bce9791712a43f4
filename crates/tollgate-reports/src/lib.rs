//! What admins read and redo over a store, shared by the desktop console (in process) and the
//! admin API of `tollgate serve` (over HTTP), so a Costs screen shows the same numbers whichever
//! it talks to: cost views, the date presets they cover, the price list and recomputing past
//! costs under it.

mod costs;
mod error;
mod prices;
mod range;

pub use costs::{
    CostRow, CostScope, CostView, DayCost, Forecast, Ranked, RowsBy, budget_left, cost_view,
    export_stem, rows_csv, scope_file_name,
};
pub use error::ReportError;
pub use prices::{
    PriceForm, PriceRow, RecomputeProgress, RecomputeResult, prices, recompute, recompute_in_steps,
    save_price,
};
pub use range::{DateRange, RangePreset};
