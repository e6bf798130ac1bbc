//! `MODEL_CARD.html`: the card for people, one self-contained page (inline
//! CSS and SVG, no external asset, no script).

use pulldown_cmark::{Event, Options, Parser, html};

use crate::error::CardError;
use crate::facts::{Fact, RunFacts};
use crate::markdown::{figure_marker, group_gaps};
use crate::plots;

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1b1b1b;line-height:1.45}\
h1{border-bottom:2px solid #444;padding-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #bbb}\
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em}th,td{border:1px solid #ccc;padding:.3em .5em;vertical-align:top;text-align:left}\
th{background:#f0f0f0}code{font-size:.85em;word-break:break-all}pre{background:#f6f6f6;padding:.8em;overflow-x:auto}\
figure{margin:1em 0}figcaption{font-size:.85em;color:#555}.meta{background:#f6f6f6;padding:.6em 1em;border-left:4px solid #888}";

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn figure(svg: &str, caption: &str) -> String {
    format!(
        "<figure>{svg}<figcaption>{}</figcaption></figure>",
        escape(caption)
    )
}

/// Renders the HTML page from the facts and the Markdown card.
pub fn render_html(f: &RunFacts, markdown: &str) -> Result<String, CardError> {
    // Split off the YAML front matter; show it as a preformatted block.
    let (front, body) = match markdown
        .strip_prefix("---\n")
        .and_then(|r| r.split_once("\n---\n"))
    {
        Some((fm, body)) => (fm, body),
        None => ("", markdown),
    };
    let mut figures: Vec<(String, String)> = Vec::new();
    if let Fact::Known(c) = &f.loss_curve
        && !c.train.is_empty()
    {
        figures.push((
            figure_marker("loss"),
            figure(&plots::loss_svg(c)?, "Figure 1. Training loss (line) and eval loss (points) by optimiser step, from train/metrics.jsonl."),
        ));
    }
    if let Fact::Known(e) = &f.eval {
        let has_exposure = e
            .exposure
            .inserted
            .iter()
            .chain(e.exposure.held_out.iter())
            .any(|x| x.exposure.is_some());
        if has_exposure {
            figures.push((
                figure_marker("exposure"),
                figure(
                    &plots::exposure_svg(&e.exposure.inserted, &e.exposure.held_out)?,
                    "Figure 2. Distribution of canary exposure in bits: inserted canaries against held-out references, from eval/report.json.",
                ),
            ));
        }
        let gaps = group_gaps(e);
        if !gaps.is_empty() {
            figures.push((
                figure_marker("groups"),
                figure(
                    &plots::group_gaps_svg(&gaps)?,
                    "Figure 3. Largest difference in P(yes) between groups, per task and attribute, base against fine-tuned, from eval/report.json.",
                ),
            ));
        }
    }
    let mut opts = Options::empty();
    opts.insert(Options::ENABLE_TABLES);
    // Raw HTML in the Markdown (from config text) is shown as text; only our
    // own figure markers become figures.
    let events = Parser::new_ext(body, opts).map(|ev| match ev {
        Event::Html(h) | Event::InlineHtml(h) => {
            let t = h.trim();
            match figures.iter().find(|(m, _)| m == t) {
                Some((_, fig)) => Event::Html(fig.clone().into()),
                None => Event::Text(h),
            }
        }
        other => other,
    });
    let mut body_html = String::new();
    html::push_html(&mut body_html, events);
    let title = escape(&format!("Model card: {}", f.model_name()));
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body_html}\n<h2>Hugging Face metadata</h2>\n<pre class=\"meta\">{}</pre>\n</body>\n</html>\n",
        escape(front)
    ))
}
