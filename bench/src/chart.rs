//! Pictures of the measurements as standalone SVG, written by hand (plain strings, no fonts,
//! no scripts), so the report's folder shows at a glance what its tables say: latency
//! percentiles as HdrHistogram plots them, and throughput against concurrent clients.

use std::fmt::Write as _;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 420.0;
/// Most points a latency curve keeps.
pub const CURVE_POINTS: usize = 200;
/// Latencies below this (a microsecond) are drawn at it: the axis is logarithmic.
const SMALLEST_MS: f64 = 0.001;
/// The highest percentile the y axis can show (1 − 10⁻⁹).
const MOST_NINES: f64 = 9.0;
/// Okabe-Ito colours, told apart by people who see colours differently.
const PALETTE: [&str; 7] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
];
const REFERENCE: &str = "#777777";

/// How a line is drawn. Solid and dashed lines take the palette's colours in their order
/// within their own style, so the n-th solid and the n-th dashed line share a colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Solid,
    Dashed,
    /// A grey dashed line to compare against.
    Reference,
}

/// One line of a chart: its name in the legend and its points (x, y) in the data's units.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub style: Style,
}

impl Series {
    /// A solid line through `points`.
    pub fn new(name: &str, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.to_owned(),
            points,
            style: Style::Solid,
        }
    }

    /// The same line drawn in `style`.
    pub fn styled(self, style: Style) -> Self {
        Self { style, ..self }
    }

    /// The latency curve of `seconds`: points (latency in ms, p) at most [`CURVE_POINTS`] of
    /// them, where the latency is the p quantile of the samples (the fraction p of the
    /// samples lies below it). The points are spaced evenly in −log10(1 − p), as the chart
    /// draws them, from p = 0 (the fastest sample) to p = 1 − 1/n (the slowest).
    pub fn percentiles(name: &str, mut seconds: Vec<f64>) -> Self {
        seconds.retain(|s| s.is_finite());
        seconds.sort_by(f64::total_cmp);
        let n = seconds.len();
        let mut points: Vec<(f64, f64)> = Vec::new();
        let mut last = None;
        if n > 0 {
            let nines = (n as f64).log10();
            for step in 0..CURVE_POINTS {
                let y = nines * step as f64 / (CURVE_POINTS - 1) as f64;
                let index =
                    (((1.0 - 10f64.powf(-y)) * n as f64 + 1e-9).floor() as usize).min(n - 1);
                if last == Some(index) {
                    continue;
                }
                last = Some(index);
                points.push((seconds[index] * 1_000.0, index as f64 / n as f64));
            }
        }
        Self::new(name, points)
    }
}

/// A latency-percentile chart (HdrHistogram style): x is the latency in ms on a log10 axis,
/// y the percentile on a log scale of 1/(1 − p), so 90 %, 99 % and 99.9 % lie a step apart.
/// `note` ends the subtitle (what the lines are, how runs were merged); `machine` (lines
/// separated by newlines) is printed at the foot. None when no series has a point.
pub fn latency_percentiles(
    title: &str,
    note: &str,
    machine: &str,
    series: &[Series],
) -> Option<String> {
    let series = drawable(series, |(x, y)| {
        (x.is_finite() && y.is_finite()).then(|| (x.max(SMALLEST_MS), y.clamp(0.0, 1.0)))
    });
    if series.is_empty() {
        return None;
    }
    let (smallest, largest) = extent(&series, |(x, _)| x);
    let low = smallest.log10().floor();
    let high = largest.log10().ceil().max(low + 1.0);
    let x = Axis {
        transform: Transform::Log10,
        low,
        high,
        ticks: (low as i32..=high as i32)
            .map(|decade| (f64::from(decade), decade_label(decade)))
            .collect(),
        minor: (low as i32..high as i32)
            .flat_map(|decade| (2..10).map(move |m| (f64::from(m) * 10f64.powi(decade)).log10()))
            .collect(),
        label: "latency, ms (log scale)".to_owned(),
    };
    let (_, most) = extent(&series, |(_, p)| Transform::Nines.apply(p));
    // Less a hair: 1 − 0.9999 in floating point is a little under 10⁻⁴.
    let nines = (most - 1e-9).ceil().clamp(1.0, MOST_NINES);
    let mut ticks = vec![(Transform::Nines.apply(0.5), "50%".to_owned())];
    ticks.extend((0..=nines as i32).map(|k| (f64::from(k), nines_label(k))));
    let y = Axis {
        transform: Transform::Nines,
        low: 0.0,
        high: nines,
        ticks,
        minor: Vec::new(),
        label: "percentile".to_owned(),
    };
    let subtitle = format!(
        "Latency at each percentile; y on a log scale of 1/(1 − p), so 90%, 99% and 99.9% are \
         a step apart (as HdrHistogram plots). {note}"
    );
    Some(draw(title, &subtitle, machine, &x, &y, &series, false))
}

/// Throughput against concurrent clients: x is the number of clients on a log2 axis, ticked
/// at the counts measured, y the operations per second from 0; lines with a marker at each
/// measurement. None when no series has a point.
pub fn throughput(title: &str, note: &str, machine: &str, series: &[Series]) -> Option<String> {
    let series = drawable(series, |(x, y)| {
        (x.is_finite() && x > 0.0 && y.is_finite()).then_some((x, y.max(0.0)))
    });
    if series.is_empty() {
        return None;
    }
    let (fewest, most) = extent(&series, |(x, _)| x.log2());
    let pad = if most > fewest {
        (most - fewest) * 0.06
    } else {
        1.0
    };
    let mut clients: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|(x, _)| *x))
        .collect();
    clients.sort_by(f64::total_cmp);
    clients.dedup();
    let x = Axis {
        transform: Transform::Log2,
        low: fewest - pad,
        high: most + pad,
        ticks: clients
            .iter()
            .map(|c| (c.log2(), format_number(*c)))
            .collect(),
        minor: Vec::new(),
        label: "concurrent clients (log2 scale)".to_owned(),
    };
    let (_, highest) = extent(&series, |(_, y)| y);
    let step = nice_step(if highest > 0.0 { highest } else { 1.0 });
    let top = (highest / step).ceil().max(1.0) * step;
    let y = Axis {
        transform: Transform::Linear,
        low: 0.0,
        high: top,
        ticks: (0..=(top / step).round() as usize)
            .map(|n| {
                let value = n as f64 * step;
                (value, format_number(value))
            })
            .collect(),
        minor: Vec::new(),
        label: "operations per second".to_owned(),
    };
    Some(draw(title, note, machine, &x, &y, &series, true))
}

/// `text` with XML's special characters escaped, for text and attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// The series with their points mapped by `keep` (None drops a point), without the empty ones.
fn drawable(series: &[Series], keep: impl Fn((f64, f64)) -> Option<(f64, f64)>) -> Vec<Series> {
    series
        .iter()
        .map(|s| Series {
            points: s.points.iter().filter_map(|p| keep(*p)).collect(),
            ..s.clone()
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

/// The smallest and largest of `value` over every point.
fn extent(series: &[Series], value: impl Fn((f64, f64)) -> f64) -> (f64, f64) {
    series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| value(*p)))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), v| {
            (low.min(v), high.max(v))
        })
}

/// 1, 2 or 5 times a power of ten, about a fifth of `range`.
fn nice_step(range: f64) -> f64 {
    let raw = range / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = match raw / magnitude {
        r if r <= 1.0 => 1.0,
        r if r <= 2.0 => 2.0,
        r if r <= 5.0 => 5.0,
        _ => 10.0,
    };
    step * magnitude
}

fn format_number(value: f64) -> String {
    if value == value.round() {
        format!("{value:.0}")
    } else {
        let decimals = (-value.abs().log10().floor()).clamp(1.0, 6.0) as usize;
        format!("{value:.decimals$}")
    }
}

/// 10^decade as a tick label: 0.01, 0.1, 1, 10, 100, …
fn decade_label(decade: i32) -> String {
    let decimals = usize::try_from(-decade).unwrap_or(0);
    format!("{:.decimals$}", 10f64.powi(decade))
}

/// The percentile k nines up: 0%, 90%, 99%, 99.9%, …
fn nines_label(k: i32) -> String {
    match k {
        0 => "0%".to_owned(),
        1 => "90%".to_owned(),
        2 => "99%".to_owned(),
        k => format!("99.{}%", "9".repeat(usize::try_from(k - 2).unwrap_or(0))),
    }
}

#[derive(Debug, Clone, Copy)]
enum Transform {
    Linear,
    Log2,
    Log10,
    /// −log10(1 − p): 0 at p = 0, 1 at 90 %, 2 at 99 %, …
    Nines,
}

impl Transform {
    fn apply(self, value: f64) -> f64 {
        match self {
            Self::Linear => value,
            Self::Log2 => value.log2(),
            Self::Log10 => value.max(SMALLEST_MS).log10(),
            Self::Nines => -(1.0 - value).max(10f64.powf(-MOST_NINES)).log10(),
        }
    }
}

/// An axis: the range (`low`..`high`) and tick positions are in transformed units.
struct Axis {
    transform: Transform,
    low: f64,
    high: f64,
    ticks: Vec<(f64, String)>,
    minor: Vec<f64>,
    label: String,
}

/// Maps an axis onto pixels from `from` (at `low`) to `to` (at `high`).
struct Scale<'a> {
    axis: &'a Axis,
    from: f64,
    to: f64,
}

impl Scale<'_> {
    /// The pixel of a transformed value (not clamped: the axes are made to cover the data).
    fn at(&self, transformed: f64) -> f64 {
        let share = (transformed - self.axis.low) / (self.axis.high - self.axis.low);
        self.from + share * (self.to - self.from)
    }

    /// The pixel of a value in the data's units.
    fn of(&self, value: f64) -> f64 {
        self.at(self.axis.transform.apply(value))
    }
}

/// `text` broken at spaces into lines of at most `width` characters (longer words stay whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}

fn colour(series: &[Series], index: usize) -> &'static str {
    let style = series[index].style;
    if style == Style::Reference {
        return REFERENCE;
    }
    let nth = series[..index].iter().filter(|s| s.style == style).count();
    PALETTE[nth % PALETTE.len()]
}

fn dashes(style: Style) -> &'static str {
    match style {
        Style::Solid => "",
        Style::Dashed => r#" stroke-dasharray="7 4""#,
        Style::Reference => r#" stroke-dasharray="3 3""#,
    }
}

/// The whole picture: title and subtitle on top, the plot with the legend to its right, the
/// machine at the foot. `fmt::Write` into a String cannot fail, hence the ignored results.
fn draw(
    title: &str,
    subtitle: &str,
    machine: &str,
    x: &Axis,
    y: &Axis,
    series: &[Series],
    markers: bool,
) -> String {
    let subtitle = wrap(subtitle, 108);
    let footer = wrap(machine, 128);
    let longest = series
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0);
    let legend_width = (longest as f64 * 6.2 + 34.0).clamp(100.0, 240.0);
    let left = 66.0;
    let right = WIDTH - 14.0 - legend_width;
    let top = 40.0 + 14.0 * subtitle.len() as f64 + 4.0;
    let foot = HEIGHT - 8.0 - 12.0 * footer.len().saturating_sub(1) as f64;
    let bottom = foot - 46.0;
    let xs = Scale {
        axis: x,
        from: left,
        to: right,
    };
    let ys = Scale {
        axis: y,
        from: bottom,
        to: top,
    };

    let mut svg = String::new();
    let _ = writeln!(svg, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11" fill="#222222">"##
    );
    let _ = writeln!(svg, "<title>{}</title>", escape(title));
    let _ = writeln!(
        svg,
        r##"<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="{left}" y="22" font-size="16" font-weight="bold">{}</text>"#,
        escape(title)
    );
    for (n, line) in subtitle.iter().enumerate() {
        let _ = writeln!(
            svg,
            r##"<text x="{left}" y="{}" fill="#555555">{}</text>"##,
            40 + 14 * n,
            escape(line)
        );
    }

    // Grid and ticks.
    let _ = writeln!(svg, r##"<g stroke="#eeeeee" stroke-width="1">"##);
    for &minor in &x.minor {
        let px = xs.at(minor);
        let _ = writeln!(
            svg,
            r#"<line x1="{px:.1}" y1="{top:.1}" x2="{px:.1}" y2="{bottom:.1}"/>"#
        );
    }
    let _ = writeln!(svg, "</g>");
    let _ = writeln!(svg, r##"<g stroke="#d0d0d0" stroke-width="1">"##);
    for (at, _) in &x.ticks {
        let px = xs.at(*at);
        let _ = writeln!(
            svg,
            r#"<line x1="{px:.1}" y1="{top:.1}" x2="{px:.1}" y2="{bottom:.1}"/>"#
        );
    }
    for (at, _) in &y.ticks {
        let py = ys.at(*at);
        let _ = writeln!(
            svg,
            r#"<line x1="{left:.1}" y1="{py:.1}" x2="{right:.1}" y2="{py:.1}"/>"#
        );
    }
    let _ = writeln!(svg, "</g>");
    let _ = writeln!(svg, r#"<g text-anchor="middle">"#);
    for (at, label) in &x.ticks {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            xs.at(*at),
            bottom + 14.0,
            escape(label)
        );
    }
    let _ = writeln!(svg, "</g>");
    let _ = writeln!(svg, r#"<g text-anchor="end">"#);
    for (at, label) in &y.ticks {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            left - 6.0,
            ys.at(*at) + 4.0,
            escape(label)
        );
    }
    let _ = writeln!(svg, "</g>");
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        (left + right) / 2.0,
        bottom + 30.0,
        escape(&x.label)
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        (top + bottom) / 2.0,
        escape(&y.label)
    );
    let _ = writeln!(
        svg,
        r##"<rect class="plot" x="{left:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#888888"/>"##,
        right - left,
        bottom - top
    );

    // The lines, then the legend.
    for (index, line) in series.iter().enumerate() {
        let colour = colour(series, index);
        let points: Vec<String> = line
            .points
            .iter()
            .map(|(vx, vy)| format!("{:.1},{:.1}", xs.of(*vx), ys.of(*vy)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.8" stroke-linejoin="round"{} points="{}"><title>{}</title></polyline>"#,
            dashes(line.style),
            points.join(" "),
            escape(&line.name)
        );
        if markers {
            for (vx, vy) in &line.points {
                let _ = writeln!(
                    svg,
                    r##"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{}" stroke="{colour}" stroke-width="1.5"/>"##,
                    xs.of(*vx),
                    ys.of(*vy),
                    if line.style == Style::Reference {
                        "#ffffff"
                    } else {
                        colour
                    }
                );
            }
        }
    }
    let legend = right + 14.0;
    for (index, line) in series.iter().enumerate() {
        let colour = colour(series, index);
        let py = top + 10.0 + 18.0 * index as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{legend:.1}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="{colour}" stroke-width="1.8"{}/>"#,
            legend + 22.0,
            dashes(line.style)
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            legend + 28.0,
            py + 4.0,
            escape(&line.name)
        );
    }
    for (n, line) in footer.iter().enumerate() {
        let _ = writeln!(
            svg,
            r##"<text x="8" y="{:.1}" font-size="10" fill="#666666">{}</text>"##,
            foot + 12.0 * n as f64,
            escape(line)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks what a browser needs to show the file: one `svg` root with the SVG namespace,
    /// every tag closed in order, quoted attributes, and `&` only in the five entities.
    fn well_formed(xml: &str) -> Result<(), String> {
        let entity = |text: &str| {
            text.match_indices('&').all(|(at, _)| {
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|e| text[at..].starts_with(e))
            })
        };
        let mut open: Vec<String> = Vec::new();
        let mut roots = 0;
        let mut rest = xml;
        while let Some(start) = rest.find('<') {
            let text = &rest[..start];
            if text.contains('>') || !entity(text) {
                return Err(format!("bad text {text:?}"));
            }
            if open.is_empty() && !text.trim().is_empty() {
                return Err(format!("text outside the root: {text:?}"));
            }
            let end = rest[start..].find('>').ok_or("a tag is not closed")? + start;
            let tag = &rest[start + 1..end];
            rest = &rest[end + 1..];
            if tag.starts_with('?') {
                continue;
            }
            if tag.contains('<') || tag.matches('"').count() % 2 == 1 || !entity(tag) {
                return Err(format!("bad tag <{tag}>"));
            }
            if let Some(name) = tag.strip_prefix('/') {
                match open.pop() {
                    Some(opened) if opened == name.trim() => continue,
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
            }
            let name = tag
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap_or_default();
            if open.is_empty() {
                roots += 1;
                if name != "svg" || !tag.contains(r#"xmlns="http://www.w3.org/2000/svg""#) {
                    return Err(format!("the root is <{tag}>"));
                }
            }
            if !tag.ends_with('/') {
                open.push(name.to_owned());
            }
        }
        match (roots, open.is_empty(), rest.trim().is_empty()) {
            (1, true, true) => Ok(()),
            _ => Err(format!(
                "{roots} roots, unclosed {open:?}, trailing {rest:?}"
            )),
        }
    }

    /// The number after `name="` in `tag`.
    fn attribute(tag: &str, name: &str) -> f64 {
        let start = tag.find(&format!(" {name}=\"")).expect(name) + name.len() + 3;
        let end = tag[start..].find('"').expect("closing quote") + start;
        tag[start..end].parse().expect("a number")
    }

    /// Every drawn point (polyline vertices, circle centres) lies within the plot's frame.
    fn points_inside_the_plot(svg: &str) -> usize {
        let frame = svg
            .lines()
            .find(|line| line.starts_with(r#"<rect class="plot""#))
            .expect("a plot frame");
        let (left, top) = (attribute(frame, "x"), attribute(frame, "y"));
        let (right, bottom) = (
            left + attribute(frame, "width"),
            top + attribute(frame, "height"),
        );
        let mut points = Vec::new();
        for line in svg.lines() {
            if line.starts_with("<polyline") {
                let start = line.find(" points=\"").expect("points") + 9;
                let end = line[start..].find('"').expect("closing quote") + start;
                for pair in line[start..end].split(' ') {
                    let (x, y) = pair.split_once(',').expect("x,y");
                    points.push((x.parse::<f64>().unwrap(), y.parse::<f64>().unwrap()));
                }
            } else if line.starts_with("<circle") {
                points.push((attribute(line, "cx"), attribute(line, "cy")));
            }
        }
        for (x, y) in &points {
            assert!(
                (left - 0.05..=right + 0.05).contains(x)
                    && (top - 0.05..=bottom + 0.05).contains(y),
                "({x}, {y}) lies outside {left}..{right} × {top}..{bottom}"
            );
        }
        points.len()
    }

    fn machine() -> &'static str {
        "Machine: 2 cores (Test CPU), 8 GiB, Linux 6.1; PostgreSQL 15.4; Apache Kafka at \
         127.0.0.1:9092.\nDate: 2026-12-04 10:00 UTC. Services built release; this harness \
         built release. Runs 3, 5 s loads."
    }

    #[test]
    fn the_checker_finds_broken_markup() {
        assert!(well_formed(r#"<svg xmlns="http://www.w3.org/2000/svg"><g></g></svg>"#).is_ok());
        for broken in [
            r#"<svg xmlns="http://www.w3.org/2000/svg"><g></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><text>a & b</text></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><text>a < b</text></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg" x="1><g/></svg>"#,
            "<svg><g/></svg>",
            r#"<svg xmlns="http://www.w3.org/2000/svg"/><svg xmlns="http://www.w3.org/2000/svg"/>"#,
        ] {
            assert!(well_formed(broken).is_err(), "{broken}");
        }
    }

    #[test]
    fn a_latency_chart_is_well_formed_and_its_axes_cover_the_data() {
        // 0.3 ms to 2.5 s: the x axis runs from 0.1 to 10 000 ms.
        let fast = (1..=10_000).map(|n| 0.0003 + f64::from(n) * 1e-7).collect();
        let slow = (1..=1_000).map(|n| f64::from(n) * 0.0025).collect();
        let series = [
            Series::percentiles("fast <one>", fast),
            Series::percentiles("slow & steady", slow).styled(Style::Dashed),
        ];
        let svg = latency_percentiles("Latency", "Runs merged.", machine(), &series).unwrap();
        well_formed(&svg).unwrap();
        assert!(
            svg.contains(">0.1</text>") && svg.contains(">10000</text>"),
            "{svg}"
        );
        assert!(!svg.contains(">0.01</text>") && !svg.contains(">100000</text>"));
        // 10 000 samples reach four nines.
        assert!(svg.contains(">99.99%</text>") && !svg.contains(">99.999%</text>"));
        assert!(svg.contains(">90%</text>") && svg.contains(">50%</text>"));
        assert!(svg.contains(r#"stroke-dasharray="7 4""#));
        let drawn = points_inside_the_plot(&svg);
        assert_eq!(drawn, series.iter().map(|s| s.points.len()).sum::<usize>());
        assert!(svg.contains("Date: 2026-12-04 10:00 UTC."));
    }

    #[test]
    fn a_throughput_chart_marks_every_measurement_inside_its_axes() {
        let series = [
            Series::new(
                "register-user",
                vec![(1.0, 420.0), (8.0, 1_100.0), (32.0, 1_310.0)],
            ),
            Series::new(
                "place-order",
                vec![(1.0, 150.0), (8.0, 500.0), (32.0, 700.0)],
            ),
            Series::new(
                "B0 pgbench (tx/s)",
                vec![(1.0, 1_500.0), (8.0, 3_600.0), (32.0, 2_900.0)],
            )
            .styled(Style::Reference),
        ];
        let svg = throughput("Throughput", "Medians.", machine(), &series).unwrap();
        well_formed(&svg).unwrap();
        assert_eq!(svg.matches("<circle").count(), 9);
        // Each point twice: a polyline vertex and a marker.
        assert_eq!(points_inside_the_plot(&svg), 18);
        for tick in [
            ">1</text>",
            ">8</text>",
            ">32</text>",
            ">0</text>",
            ">4000</text>",
        ] {
            assert!(svg.contains(tick), "no tick {tick}");
        }
        assert!(svg.contains(&format!(r#"stroke="{REFERENCE}""#)));
    }

    #[test]
    fn the_log_axis_puts_one_decade_between_1_and_10_ms() {
        let axis = Axis {
            transform: Transform::Log10,
            low: -1.0,
            high: 3.0,
            ticks: Vec::new(),
            minor: Vec::new(),
            label: String::new(),
        };
        let scale = Scale {
            axis: &axis,
            from: 100.0,
            to: 500.0,
        };
        assert!((scale.of(10.0) - scale.of(1.0) - 100.0).abs() < 1e-9);
        assert!((scale.of(100.0) - scale.of(10.0) - 100.0).abs() < 1e-9);
        assert!((scale.of(0.1) - 100.0).abs() < 1e-9);
        assert!((scale.of(1_000.0) - 500.0).abs() < 1e-9);
        let nines = Axis {
            transform: Transform::Nines,
            high: 3.0,
            low: 0.0,
            ..axis
        };
        let scale = Scale {
            axis: &nines,
            from: 400.0,
            to: 100.0,
        };
        assert!((scale.of(0.9) - 300.0).abs() < 1e-9);
        assert!((scale.of(0.99) - 200.0).abs() < 1e-9);
        assert!((scale.of(0.999) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn text_is_escaped_for_xml() {
        assert_eq!(
            escape(r#"<a & 'b' "c">"#),
            "&lt;a &amp; &apos;b&apos; &quot;c&quot;&gt;"
        );
        let series = [Series::new("a<b & c", vec![(1.0, 1.0)])];
        let svg = throughput("x < y & \"z\"", "", "Machine: <none>", &series).unwrap();
        well_formed(&svg).unwrap();
        assert!(svg.contains("a&lt;b &amp; c") && !svg.contains("a<b"));
        assert!(svg.contains("x &lt; y &amp; &quot;z&quot;"));
        assert!(svg.contains("Machine: &lt;none&gt;"));
    }

    #[test]
    fn no_points_make_no_chart() {
        assert_eq!(latency_percentiles("t", "", "", &[]), None);
        assert_eq!(throughput("t", "", "", &[]), None);
        let empty = [
            Series::percentiles("none", Vec::new()),
            Series::new("nan", vec![(f64::NAN, 1.0)]),
        ];
        assert!(empty[0].points.is_empty());
        assert_eq!(latency_percentiles("t", "", "", &empty), None);
        assert_eq!(throughput("t", "", "", &empty), None);
        // An empty series next to a measured one is left out of the legend.
        let one = [empty[0].clone(), Series::new("measured", vec![(2.0, 5.0)])];
        let svg = throughput("t", "", "", &one).unwrap();
        assert!(svg.contains(">measured</text>") && !svg.contains(">none</text>"));
    }

    #[test]
    fn a_latency_curve_keeps_at_most_200_points_from_the_fastest_to_the_slowest() {
        // 1 to 100 000 µs, shuffled.
        let seconds: Vec<f64> = (0..100_000u32)
            .map(|n| f64::from((n * 7_919) % 100_000 + 1) / 1e6)
            .collect();
        let curve = Series::percentiles("c", seconds);
        let points = &curve.points;
        assert!(
            points.len() <= CURVE_POINTS && points.len() > 150,
            "{}",
            points.len()
        );
        assert!((points[0].0 - 0.001).abs() < 1e-12 && points[0].1 == 0.0);
        let (last_ms, last_p) = points[points.len() - 1];
        assert!((last_ms - 100.0).abs() < 1e-9);
        assert!((last_p - 0.99999).abs() < 1e-12);
        assert!(
            points
                .windows(2)
                .all(|w| w[0].0 <= w[1].0 && w[0].1 < w[1].1)
        );
        // The quantiles are those of the samples: p of them lie below.
        for (ms, p) in points {
            assert!((ms - (p * 100.0 + 0.001)).abs() < 1e-6, "({ms}, {p})");
        }
        // A few samples give a point each.
        let few = Series::percentiles("few", vec![0.003, 0.001, 0.002]);
        assert_eq!(few.points.len(), 3);
        assert!((few.points[2].0 - 3.0).abs() < 1e-9 && few.points[2].1 == 2.0 / 3.0);
    }

    #[test]
    fn labels_read_as_people_write_them() {
        assert_eq!(
            (-2..=3).map(decade_label).collect::<Vec<_>>(),
            ["0.01", "0.1", "1", "10", "100", "1000"]
        );
        assert_eq!(
            (0..=4).map(nines_label).collect::<Vec<_>>(),
            ["0%", "90%", "99%", "99.9%", "99.99%"]
        );
        assert_eq!(nice_step(1_310.0), 500.0);
        assert_eq!(nice_step(3_600.0), 1_000.0);
        assert_eq!(format_number(0.5), "0.5");
        assert_eq!(format_number(4000.0), "4000");
    }
}
