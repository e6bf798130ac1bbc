//! The card's plots, drawn with `plotters` into SVG strings for the HTML page.

use plotters::prelude::*;

use crate::error::CardError;
use crate::facts::{ExposureEntry as Exposure, LossCurve};
use crate::markdown::GroupGap;

const W: u32 = 720;
const H: u32 = 320;
const TRAIN: RGBColor = RGBColor(31, 119, 180);
const EVAL: RGBColor = RGBColor(214, 39, 40);
const BASE: RGBColor = RGBColor(127, 127, 127);

fn perr(plot: &'static str) -> impl Fn(String) -> CardError {
    move |reason| CardError::Plot { plot, reason }
}

fn pad(lo: f64, hi: f64) -> (f64, f64) {
    if (hi - lo).abs() < 1e-12 {
        (lo - 0.5, hi + 0.5)
    } else {
        let m = (hi - lo) * 0.05;
        (lo - m, hi + m)
    }
}

/// Training (line) and eval (points) loss against the step.
pub fn loss_svg(c: &LossCurve) -> Result<String, CardError> {
    let e = perr("loss curve");
    let all = c.train.iter().chain(c.eval.iter());
    let (mut x1, mut y0, mut y1) = (1u64, f64::MAX, f64::MIN);
    for p in all {
        x1 = x1.max(p.step);
        y0 = y0.min(p.loss);
        y1 = y1.max(p.loss);
    }
    if y0 > y1 {
        return Err(e("no points".into()));
    }
    let (y0, y1) = pad(y0, y1);
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Loss by step", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..x1 as f64, y0..y1)
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc("loss")
            .draw()
            .map_err(|x| e(x.to_string()))?;
        chart
            .draw_series(LineSeries::new(
                c.train.iter().map(|p| (p.step as f64, p.loss)),
                TRAIN.stroke_width(2),
            ))
            .map_err(|x| e(x.to_string()))?
            .label("training loss")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], TRAIN.stroke_width(2)));
        if !c.eval.is_empty() {
            chart
                .draw_series(LineSeries::new(
                    c.eval.iter().map(|p| (p.step as f64, p.loss)),
                    EVAL.stroke_width(1),
                ))
                .map_err(|x| e(x.to_string()))?;
            chart
                .draw_series(
                    c.eval
                        .iter()
                        .map(|p| Circle::new((p.step as f64, p.loss), 4, EVAL.filled())),
                )
                .map_err(|x| e(x.to_string()))?
                .label("eval loss")
                .legend(|(x, y)| Circle::new((x + 9, y), 4, EVAL.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|x| e(x.to_string()))?;
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(buf)
}

/// Histogram of canary exposure (bits), inserted against held-out canaries.
pub fn exposure_svg(inserted: &[Exposure], held_out: &[Exposure]) -> Result<String, CardError> {
    let e = perr("exposure distribution");
    let ins: Vec<f64> = inserted.iter().filter_map(|x| x.exposure).collect();
    let out: Vec<f64> = held_out.iter().filter_map(|x| x.exposure).collect();
    let all: Vec<f64> = ins.iter().chain(out.iter()).copied().collect();
    if all.is_empty() {
        return Err(e("no exposure values".into()));
    }
    let lo = all.iter().copied().fold(f64::MAX, f64::min).min(0.0);
    let hi = all.iter().copied().fold(f64::MIN, f64::max);
    let (lo, hi) = if hi - lo < 1e-9 {
        (lo, lo + 1.0)
    } else {
        (lo, hi)
    };
    let bins = 20usize;
    let width = (hi - lo) / bins as f64;
    let count = |v: &[f64]| {
        let mut c = vec![0u32; bins];
        for x in v {
            let i = (((x - lo) / width) as usize).min(bins - 1);
            c[i] += 1;
        }
        c
    };
    let (ci, co) = (count(&ins), count(&out));
    let ymax = ci
        .iter()
        .chain(co.iter())
        .copied()
        .max()
        .unwrap_or(1)
        .max(1);
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Canary exposure", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(lo..hi, 0u32..ymax + 1)
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("exposure (bits)")
            .y_desc("canaries")
            .draw()
            .map_err(|x| e(x.to_string()))?;
        for (counts, color, label, half) in
            [(&co, BASE, "held out", 0.0), (&ci, EVAL, "inserted", 0.5)]
        {
            chart
                .draw_series(
                    counts
                        .iter()
                        .enumerate()
                        .filter(|(_, n)| **n > 0)
                        .map(|(i, n)| {
                            let x0 = lo + width * (i as f64 + half * 0.5);
                            let x1 = x0 + width * 0.5;
                            Rectangle::new([(x0, 0), (x1, *n)], color.mix(0.8).filled())
                        }),
                )
                .map_err(|x| e(x.to_string()))?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperMiddle)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|x| e(x.to_string()))?;
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(buf)
}

/// Bars of the largest group gap per task and attribute, base against fine-tuned.
pub fn group_gaps_svg(gaps: &[GroupGap]) -> Result<String, CardError> {
    let e = perr("group gaps");
    if gaps.is_empty() {
        return Err(e("no groups".into()));
    }
    let ymax = gaps
        .iter()
        .flat_map(|g| [g.base, g.finetuned])
        .flatten()
        .fold(0.0f64, f64::max)
        .max(0.05)
        * 1.15;
    let n = gaps.len();
    let labels: Vec<String> = gaps
        .iter()
        .map(|g| format!("{}/{}", g.task, g.attribute))
        .collect();
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Largest P(yes) gap between groups", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..n as f64, 0f64..ymax)
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .x_desc("task / attribute")
            .y_desc("gap in P(yes)")
            .draw()
            .map_err(|x| e(x.to_string()))?;
        for (pick, color, label, off) in [
            (0usize, BASE, "base", 0.15),
            (1usize, EVAL, "fine-tuned", 0.5),
        ] {
            chart
                .draw_series(gaps.iter().enumerate().filter_map(|(i, g)| {
                    let v = if pick == 0 { g.base } else { g.finetuned }?;
                    let x0 = i as f64 + off;
                    Some(Rectangle::new([(x0, 0.0), (x0 + 0.35, v)], color.filled()))
                }))
                .map_err(|x| e(x.to_string()))?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .draw_series(labels.iter().enumerate().map(|(i, l)| {
                Text::new(
                    l.clone(),
                    (i as f64 + 0.15, ymax * 0.97),
                    ("sans-serif", 13),
                )
            }))
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|x| e(x.to_string()))?;
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(buf)
}
