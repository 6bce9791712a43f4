//! The Costs screen's charts, drawn with plotters: SVG for the UI, PNG for export (with an embedded
//! font, so a machine without fonts draws the same text). Amounts stay integer nano-dollars even
//! as plot coordinates; labels are formatted from them exactly.

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use tollgate_core::Nanos;

use crate::error::{AdminError, ErrorCode};
use tollgate_reports::CostView;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// The embedded font's family first, so the UI draws the SVG in the font of the exported PNG (and
/// of the UI's own text) rather than whatever the generic family resolves to.
const FAMILY: &str = "DejaVu Sans, sans-serif";

/// Which chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    /// Daily cost, stacked by model.
    DailyByModel,
    /// Running total against the budget, with the forecast to the period's end.
    CumulativeVsBudget,
    /// The most expensive tenants (or models, in a tenant's view).
    Top,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    Light,
    Dark,
}

struct Colors {
    background: RGBColor,
    text: RGBColor,
    grid: RGBColor,
}

fn colors(theme: Theme) -> Colors {
    match theme {
        Theme::Light => Colors {
            background: RGBColor(255, 255, 255),
            text: RGBColor(33, 37, 41),
            grid: RGBColor(222, 226, 230),
        },
        Theme::Dark => Colors {
            background: RGBColor(24, 26, 31),
            text: RGBColor(222, 226, 230),
            grid: RGBColor(60, 64, 72),
        },
    }
}

/// A palette that stays apart for ten series, then repeats.
const SERIES: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The bytes are a font shipped with the crate; a failure would be caught by the tests.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// `$12.35`-style axis labels from nano-dollars, rounded to cents.
fn money_label(nanos: i64) -> String {
    let cents = (i128::from(nanos) + 5_000_000) / 10_000_000;
    format!("${}.{:02}", cents / 100, (cents % 100).abs())
}

fn draw_error(error: impl std::fmt::Display) -> AdminError {
    AdminError::new(
        ErrorCode::Storage,
        format!("cannot draw the chart: {error}"),
    )
}

/// Room for a legend of `items` under a chart `width` wide: rows of 22 px, laid out as
/// [`draw_legend`] does.
fn legend_height(items: &[(String, RGBColor)], width: u32) -> u32 {
    legend_rows(items, width).len() as u32 * 22 + 6
}

/// Legend entries flowed into rows; text widths estimated at 7 px a character (12 px DejaVu Sans).
fn legend_rows(items: &[(String, RGBColor)], width: u32) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut used = u32::MAX;
    for (index, (label, _)) in items.iter().enumerate() {
        let entry = 30 + 7 * label.chars().count() as u32;
        if used.saturating_add(entry) > width.saturating_sub(24) {
            rows.push(Vec::new());
            used = 0;
        }
        if let Some(row) = rows.last_mut() {
            row.push(index);
        }
        used += entry;
    }
    rows
}

/// Draws the legend of `items` along the bottom of `root`; returns the area above it for the chart.
fn legend_below<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    items: &[(String, RGBColor)],
    palette: &Colors,
) -> Result<DrawingArea<DB, Shift>, AdminError>
where
    DB::ErrorType: 'static,
{
    let (width, height) = root.dim_in_pixel();
    let (plot, under) = root.split_vertically(height.saturating_sub(legend_height(items, width)));
    draw_legend(&under, items, palette)?;
    Ok(plot)
}

/// The series legend under the chart, so it never hides a bar or a line.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    items: &[(String, RGBColor)],
    palette: &Colors,
) -> Result<(), AdminError>
where
    DB::ErrorType: 'static,
{
    let (width, _) = area.dim_in_pixel();
    let font = (FAMILY, 12).into_font().color(&palette.text);
    for (row, entries) in legend_rows(items, width).iter().enumerate() {
        let mut x = 24_i32;
        let y = 12 + 22 * row as i32;
        for &index in entries {
            let (label, color) = &items[index];
            area.draw(&Rectangle::new(
                [(x, y - 5), (x + 12, y + 7)],
                color.filled(),
            ))
            .map_err(draw_error)?;
            area.draw(&Text::new(label.as_str(), (x + 18, y - 6), font.clone()))
                .map_err(draw_error)?;
            x += 30 + 7 * label.chars().count() as i32;
        }
    }
    Ok(())
}

/// A chart over `X` and `Y` ranges.
type Frame<'a, DB, X, Y> = ChartContext<
    'a,
    DB,
    Cartesian2d<
        <X as plotters::coord::ranged1d::AsRangedCoord>::CoordDescType,
        <Y as plotters::coord::ranged1d::AsRangedCoord>::CoordDescType,
    >,
>;

/// A titled chart frame; `y_label_area` is the room for the y labels.
fn frame<
    'a,
    DB: DrawingBackend,
    X: plotters::coord::ranged1d::AsRangedCoord,
    Y: plotters::coord::ranged1d::AsRangedCoord,
>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    palette: &Colors,
    (x, y): (X, Y),
    y_label_area: u32,
) -> Result<Frame<'a, DB, X, Y>, AdminError>
where
    DB::ErrorType: 'static,
{
    ChartBuilder::on(root)
        .caption(title, (FAMILY, 18).into_font().color(&palette.text))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(y_label_area)
        .build_cartesian_2d(x, y)
        .map_err(draw_error)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    view: &CostView,
    kind: ChartKind,
    theme: Theme,
) -> Result<(), AdminError>
where
    DB::ErrorType: 'static,
{
    let palette = colors(theme);
    root.fill(&palette.background).map_err(draw_error)?;
    let text = |size: u32| (FAMILY, size).into_font().color(&palette.text);
    let days = view.daily.len() as i32;
    match kind {
        ChartKind::DailyByModel => {
            let top = view
                .daily
                .iter()
                .map(|day| day.total.0)
                .max()
                .unwrap_or(0)
                .max(1);
            // One colour per model, the biggest models first.
            let mut order: BTreeMap<&str, i64> = BTreeMap::new();
            for day in &view.daily {
                for (model, cost) in &day.by_model {
                    *order.entry(model.as_str()).or_default() += cost.0;
                }
            }
            let mut models: Vec<(&str, i64)> = order.into_iter().collect();
            models.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let items: Vec<(String, RGBColor)> = models
                .iter()
                .enumerate()
                .map(|(rank, (model, _))| ((*model).to_owned(), SERIES[rank % SERIES.len()]))
                .collect();
            let plot = legend_below(root, &items, &palette)?;
            let mut chart = frame(
                &plot,
                "Daily cost by model",
                &palette,
                (0..days.max(1), 0_i64..top + top / 10),
                70,
            )?;
            chart
                .configure_mesh()
                .light_line_style(palette.grid)
                .bold_line_style(palette.grid)
                .label_style(text(12))
                .y_label_formatter(&|value| money_label(*value))
                .x_label_formatter(&|index| {
                    view.daily
                        .get(*index as usize)
                        .map(|day| day.day.format("%m-%d").to_string())
                        .unwrap_or_default()
                })
                .draw()
                .map_err(draw_error)?;
            for (rank, (model, _)) in models.iter().enumerate() {
                let color = SERIES[rank % SERIES.len()];
                let bars = view.daily.iter().enumerate().filter_map(|(index, day)| {
                    let below: i64 = day
                        .by_model
                        .iter()
                        .filter(|(other, _)| {
                            models.iter().position(|(name, _)| name == other) < Some(rank)
                        })
                        .map(|(_, cost)| cost.0)
                        .sum();
                    let own = day.by_model.iter().find(|(name, _)| name == model)?.1.0;
                    Some(Rectangle::new(
                        [(index as i32, below), (index as i32 + 1, below + own)],
                        color.filled(),
                    ))
                });
                chart.draw_series(bars).map_err(draw_error)?;
            }
        }
        ChartKind::CumulativeVsBudget => {
            let spent = view.cumulative.last().map_or(0, |(_, total)| total.0);
            let forecast = view
                .forecast
                .as_ref()
                .map_or(0, |forecast| forecast.at_period_end.0);
            let budget = view.budget.map_or(0, |budget| budget.0);
            let period_days =
                i32::try_from((view.range.period_end - view.range.from).num_days() + 1)
                    .unwrap_or(days);
            let top = spent.max(forecast).max(budget).max(1);
            let mut items = vec![("spent".to_owned(), SERIES[0])];
            if let Some(forecast) = &view.forecast {
                items.push((
                    format!("forecast {}", money_label(forecast.at_period_end.0)),
                    SERIES[1],
                ));
            }
            if let Some(budget) = view.budget {
                items.push((format!("budget {}", money_label(budget.0)), SERIES[3]));
            }
            let plot = legend_below(root, &items, &palette)?;
            let mut chart = frame(
                &plot,
                "Spend against budget",
                &palette,
                (0..period_days.max(1), 0_i64..top + top / 10),
                70,
            )?;
            chart
                .configure_mesh()
                .light_line_style(palette.grid)
                .bold_line_style(palette.grid)
                .label_style(text(12))
                .y_label_formatter(&|value| money_label(*value))
                .draw()
                .map_err(draw_error)?;
            chart
                .draw_series(LineSeries::new(
                    view.cumulative
                        .iter()
                        .enumerate()
                        .map(|(index, (_, total))| (index as i32 + 1, total.0)),
                    SERIES[0].stroke_width(3),
                ))
                .map_err(draw_error)?;
            if let Some(forecast) = &view.forecast {
                chart
                    .draw_series(LineSeries::new(
                        [(days, spent), (period_days, forecast.at_period_end.0)],
                        SERIES[1].stroke_width(2),
                    ))
                    .map_err(draw_error)?;
            }
            if let Some(budget) = view.budget {
                chart
                    .draw_series(LineSeries::new(
                        [(0, budget.0), (period_days, budget.0)],
                        SERIES[3].stroke_width(2),
                    ))
                    .map_err(draw_error)?;
            }
        }
        ChartKind::Top => {
            let (title, items) = if view.top_tenants.is_empty() {
                ("Top models", &view.top_models)
            } else {
                ("Top tenants", &view.top_tenants)
            };
            let count = items.len().max(1) as i32;
            let top = items
                .iter()
                .map(|item| item.cost.0)
                .max()
                .unwrap_or(0)
                .max(1);
            let mut chart = frame(
                root,
                title,
                &palette,
                (0_i64..top + top / 10, (0..count).into_segmented()),
                150,
            )?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .light_line_style(palette.grid)
                .bold_line_style(palette.grid)
                .label_style(text(12))
                .x_label_formatter(&|value| money_label(*value))
                .y_labels(items.len().max(1))
                .y_label_formatter(&|segment| match segment {
                    // Each bar is one segment; its label sits at the segment's middle.
                    SegmentValue::CenterOf(index) => items
                        .get((count - 1 - *index) as usize)
                        .map(|item| item.name.chars().take(20).collect())
                        .unwrap_or_default(),
                    _ => String::new(),
                })
                .draw()
                .map_err(draw_error)?;
            chart
                .draw_series(items.iter().enumerate().map(|(rank, item)| {
                    let row = count - 1 - rank as i32;
                    Rectangle::new(
                        [
                            (0, SegmentValue::Exact(row)),
                            (item.cost.0, SegmentValue::Exact(row + 1)),
                        ],
                        SERIES[rank % SERIES.len()].filled(),
                    )
                }))
                .map_err(draw_error)?;
        }
    }
    root.present().map_err(draw_error)?;
    Ok(())
}

/// The chart as SVG, for the UI.
pub fn chart_svg(
    view: &CostView,
    kind: ChartKind,
    size: (u32, u32),
    theme: Theme,
) -> Result<String, AdminError> {
    register_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(&root, view, kind, theme)?;
    }
    Ok(svg)
}

/// The chart as PNG, for export.
pub fn chart_png(
    view: &CostView,
    kind: ChartKind,
    size: (u32, u32),
    theme: Theme,
) -> Result<Vec<u8>, AdminError> {
    register_font();
    let (width, height) = size;
    if width == 0 || height == 0 || width > 8192 || height > 8192 {
        return Err(AdminError::invalid(format!(
            "a chart of {width}x{height} pixels cannot be drawn"
        )));
    }
    let mut pixels = vec![0_u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        draw(&root, view, kind, theme)?;
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(draw_error)?;
        writer.write_image_data(&pixels).map_err(draw_error)?;
    }
    Ok(out)
}

/// Exact money for chart tooltips and legends.
pub fn money_text(amount: Nanos) -> String {
    format!("${}", amount.to_decimal_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_to_cents_from_integers() {
        assert_eq!(money_label(12_345_000_000), "$12.35");
        assert_eq!(money_label(4_999_999), "$0.00");
        assert_eq!(money_label(5_000_000), "$0.01");
        assert_eq!(money_text(Nanos(1_500_000_000)), "$1.50");
    }
}
