//! The Costs charts as SVG for the UI and PNG for export, drawn from a real store's view.

use crate::seed;

use seed::{day, seeded};
use tollgate_admin::{ChartKind, CostScope, RangePreset, Theme, chart_png, chart_svg, cost_view};

#[test]
fn every_chart_draws_as_svg_and_png() {
    let (_dir, store) = seeded();
    let view = cost_view(
        &store,
        RangePreset::ThisMonth,
        &CostScope::default(),
        day("2026-03-10"),
    )
    .unwrap();
    let daily = chart_svg(&view, ChartKind::DailyByModel, (900, 400), Theme::Light).unwrap();
    assert!(daily.starts_with("<svg"), "{}", &daily[..100]);
    assert!(daily.contains("Daily cost by model"));
    // The UI draws the SVG in the PNG's embedded font, named first.
    assert!(
        daily.contains(r#"font-family="DejaVu Sans, sans-serif""#),
        "{}",
        &daily[..400]
    );
    // plotters writes each label on a line of its own inside <text>.
    let texts: Vec<&str> = daily.lines().map(str::trim).collect();
    for model in ["m1", "m2", "m3"] {
        assert!(texts.contains(&model), "the legend names {model}");
    }
    let cumulative = chart_svg(
        &view,
        ChartKind::CumulativeVsBudget,
        (900, 400),
        Theme::Dark,
    )
    .unwrap();
    assert!(
        cumulative.contains("budget $150.00"),
        "the budget line is labelled"
    );
    assert!(
        cumulative.contains("forecast $53.48"),
        "the forecast is labelled"
    );
    let top = chart_svg(&view, ChartKind::Top, (600, 300), Theme::Light).unwrap();
    assert!(top.contains("Top tenants") && top.lines().any(|line| line.trim() == "alpha"));

    let out = std::env::temp_dir().join("tollgate-chart-test");
    std::fs::create_dir_all(&out).unwrap();
    for (kind, name) in [
        (ChartKind::DailyByModel, "daily"),
        (ChartKind::CumulativeVsBudget, "cumulative"),
        (ChartKind::Top, "top"),
    ] {
        let png = chart_png(&view, kind, (900, 400), Theme::Light).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png.clone()));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (900, 400));
        std::fs::write(out.join(format!("{name}.png")), &png).unwrap();
        // Drawn, not blank: the picture holds many colours.
        let mut reader = reader;
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut pixels).unwrap();
        let colours: std::collections::HashSet<&[u8]> = pixels.chunks(3).collect();
        assert!(colours.len() > 20, "{name}: {} colours", colours.len());
    }
    let error = chart_png(&view, ChartKind::Top, (0, 10), Theme::Light).unwrap_err();
    assert!(error.message.contains("0x10"), "{error}");
}
