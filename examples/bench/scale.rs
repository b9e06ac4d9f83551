//! The scale curve: the baseline and the md5 channel drained from queues prefilled to each
//! of `--depths` (20k, 200k, 1M by default), so a reader sees whether the bridge stays as
//! fast, as small and as cheap per message with a million messages waiting as with twenty
//! thousand. Written as a table, `scale.csv` and, with gnuplot, `scale.png` in the workdir.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::opts::Opts;
use super::run::{drain, machine_cpu_us, print_drain};
use super::scenario::{Harness, Under};
use bench_harness::report::{Agg, Figures};

/// One run of the curve: each depth, baseline then bridge.
pub async fn run(h: &Harness, opts: &Opts, figures: &mut Figures) -> anyhow::Result<()> {
    for &depth in &opts.depths {
        println!("  scale: {depth} messages queued");
        let baseline = h
            .measure(Under::Baseline, &drain(h, "baseline", depth))
            .await?;
        print_drain("baseline", &baseline, None);
        let md5 = h.measure(Under::Bridge, &drain(h, "md5", depth)).await?;
        print_drain("md5", &md5, Some(baseline.summary.rate));
        let key = |name: &str| format!("scale_{depth}_{name}");
        let ratio = md5.summary.rate / baseline.summary.rate;
        figures.add(&key("ratio"), Agg::Median, ratio);
        figures.add(&key("baseline_rate"), Agg::Median, baseline.summary.rate);
        figures.add(&key("md5_rate"), Agg::Median, md5.summary.rate);
        figures.add(&key("md5_cpu_us"), Agg::Median, md5.consumer_cpu_us);
        figures.add(
            &key("baseline_cpu_us"),
            Agg::Median,
            baseline.consumer_cpu_us,
        );
        figures.add(
            &key("cpu_ratio"),
            Agg::Median,
            machine_cpu_us(&baseline) / machine_cpu_us(&md5),
        );
        figures.add(&key("md5_rss_mib"), Agg::Max, md5.peak_rss_mib);
        if let Some(bytes) = md5.journal_bytes_per_msg {
            figures.add(&key("md5_journal_bytes"), Agg::Median, bytes);
        }
        let lost = md5.summary.missing + baseline.summary.missing;
        figures.add("missing", Agg::Sum, lost as f64);
    }
    Ok(())
}

/// The curve's medians as `scale.csv`, and `scale.png` when gnuplot is installed; the
/// files written.
pub fn write(workdir: &Path, depths: &[usize], figures: &Figures) -> anyhow::Result<Vec<PathBuf>> {
    let value = |depth: usize, name: &str| {
        let key = format!("scale_{depth}_{name}");
        figures
            .rows()
            .find(|(k, _, _)| *k == key)
            .map_or(f64::NAN, |(_, v, _)| v)
    };
    let mut csv = String::from(
        "queued,baseline_rate,md5_rate,ratio,md5_cpu_us,baseline_cpu_us,md5_rss_mib,md5_journal_bytes\n",
    );
    for &d in depths {
        writeln!(
            csv,
            "{d},{:.0},{:.0},{:.3},{:.1},{:.1},{:.1},{:.0}",
            value(d, "baseline_rate"),
            value(d, "md5_rate"),
            value(d, "ratio"),
            value(d, "md5_cpu_us"),
            value(d, "baseline_cpu_us"),
            value(d, "md5_rss_mib"),
            value(d, "md5_journal_bytes"),
        )?;
    }
    let data = workdir.join("scale.csv");
    std::fs::write(&data, csv)?;
    let mut written = vec![data.clone()];
    let png = workdir.join("scale.png");
    let plotted = Command::new("gnuplot")
        .arg("-e")
        .arg(plot_script(&data, &png))
        .status();
    match plotted {
        Ok(status) if status.success() => written.push(png),
        Ok(status) => println!("  gnuplot failed ({status}): no scale.png"),
        Err(_) => println!("  gnuplot is not installed (apt install gnuplot-nox): no scale.png"),
    }
    Ok(written)
}

/// Rates on the left axis, the bridge/baseline ratio and RSS on their own panels, all
/// against the depth on a log scale.
fn plot_script(data: &Path, png: &Path) -> String {
    format!(
        r#"set terminal png size 1200,420 font ",10";
set output "{png}";
set datafile separator ",";
set key autotitle columnhead;
set logscale x;
set offsets graph 0.05, graph 0.05, 0, 0;
set xlabel "messages queued";
set grid;
set multiplot layout 1,3 title "notify-bridge md5 channel vs minimal pass-through, by queue depth";
set title "drain rate (msg/s)"; set yrange [0:*]; set key bottom right;
plot "{data}" using 1:2 with linespoints title "baseline", "" using 1:3 with linespoints title "bridge (md5)";
set title "bridge / baseline rate"; set yrange [0:1.2];
plot "{data}" using 1:4 with linespoints title "ratio";
set title "bridge peak RSS (MiB) and CPU per message (µs)"; set yrange [0:*]; set key center right;
plot "{data}" using 1:7 with linespoints title "RSS MiB", "" using 1:5 with linespoints title "CPU µs/msg";
unset multiplot"#,
        png = png.display(),
        data = data.display()
    )
}
