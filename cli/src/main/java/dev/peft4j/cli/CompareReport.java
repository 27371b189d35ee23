package dev.peft4j.cli;

import dev.peft4j.api.io.AtomicFiles;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.imageio.ImageIO;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.CategoryAxis;
import org.jfree.chart.axis.CategoryLabelPositions;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.labels.StandardCategoryItemLabelGenerator;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * compare's outputs: the table printed on the console, and in {@code --out} results.json (the rows, the
 * settings and the machine), report.md (the table, the charts, the answers) and the PNG charts, drawn with
 * JFreeChart on a headless AWT. Every file is written atomically.
 */
final class CompareReport {
    static final String[] CHARTS = {"train_loss.png", "val_loss.png", "trainable_params.png", "peak_memory.png", "tokens_per_s.png"};

    /** The settings and the machine, beside the rows. */
    record Setup(String model, String data, long seed, int valSize, int microBatchSize, int batchSize, String cpu, String loadBefore,
                 String loadAfter, double wallSeconds, boolean interrupted, List<String> notRun) {}

    private CompareReport() {}

    /** Writes results.json, report.md and the charts into {@code dir}. */
    static void write(Path dir, Setup setup, List<CompareResult.Row> rows) throws IOException {
        Files.createDirectories(dir);
        AtomicFiles.write(dir.resolve("results.json"), CompareResult.JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(results(setup, rows)));
        String chartError = null;
        try {
            charts(dir, rows);
        } catch (RuntimeException | Error e) { // e.g. AWT unusable here: the table and results still count
            chartError = e.toString();
        }
        String md = markdown(setup, rows);
        if (chartError != null) md += "\nThe charts could not be drawn: " + chartError + "\n";
        AtomicFiles.write(dir.resolve("report.md"), md.getBytes(StandardCharsets.UTF_8));
        if (chartError != null) throw new IOException("the charts in " + dir + " could not be drawn: " + chartError);
    }

    /**
     * Draws one small chart and throws it away: loads JFreeChart, Java2D and the fonts now, while shutdown hooks can
     * still be registered (the JDK's font code registers one on first use, which fails once Ctrl-C has begun shutdown).
     */
    static void warmUp() {
        XYSeriesCollection c = new XYSeriesCollection();
        XYSeries s = new XYSeries("x");
        s.add(0, 1);
        s.add(1, 0);
        c.addSeries(s);
        ImageIO.setUseCache(false); // a file cache would register a shutdown hook (StreamCloser) on first use
        try {
            ImageIO.write(lines("warm-up", "x", "y", c).createBufferedImage(60, 40), "png", new ByteArrayOutputStream());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        bars("warm-up", "y", new DefaultCategoryDataset(), true).createBufferedImage(60, 40);
    }

    /**
     * results.json's content. Timings, speeds and memory are in each row's {@code measured} and in {@code machine};
     * everything else is the same for the same seed, data and model.
     */
    static Map<String, Object> results(Setup s, List<CompareResult.Row> rows) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", s.model());
        m.put("data", s.data());
        m.put("seed", s.seed());
        m.put("val_size", s.valSize());
        m.put("micro_batch_size", s.microBatchSize());
        m.put("batch_size", s.batchSize());
        m.put("interrupted", s.interrupted());
        m.put("not_run", s.notRun());
        m.put("methods", rows);
        Map<String, Object> machine = new LinkedHashMap<>();
        machine.put("cpu", s.cpu());
        machine.put("load_before", s.loadBefore());
        machine.put("load_after", s.loadAfter());
        machine.put("wall_s", s.wallSeconds());
        m.put("machine", machine);
        return m;
    }

    // ---------------------------------------------------------------------------------------
    // the table
    // ---------------------------------------------------------------------------------------

    static final String[] COLUMNS = {"method", "trainable (% of model)", "adapter", "peak mem", "s/step", "train tok/s", "train loss",
            "val loss", "val ppl", "exact match", "infer tok/s"};

    /** Whether some method trained on a device other than the CPU (compare --device): then the table has a device column. */
    static boolean devices(List<CompareResult.Row> rows) {
        return rows.stream().anyMatch(r -> r.device() != null && !r.device().equals("cpu"));
    }

    static String[] columns(List<CompareResult.Row> rows) {
        if (!devices(rows)) return COLUMNS;
        String[] c = java.util.Arrays.copyOf(COLUMNS, COLUMNS.length + 1);
        c[COLUMNS.length] = "device";
        return c;
    }

    /** The table's cells, one array per row (strings as printed; failed rows have their reason in the second cell). */
    static List<String[]> cells(List<CompareResult.Row> rows) {
        boolean devices = devices(rows);
        List<String[]> out = new ArrayList<>();
        for (CompareResult.Row r : rows) {
            if (!r.ok()) {
                String[] c = new String[columns(rows).length];
                java.util.Arrays.fill(c, "");
                c[0] = r.method();
                c[1] = r.status().toUpperCase(Locale.ROOT) + ": " + (r.error() == null ? "" : r.error());
                out.add(c);
                continue;
            }
            CompareResult.Measured m = r.measured();
            String trainable = String.format("%,d (%s)", r.trainableParams(), percent(r.trainableParams(), r.modelParams()));
            String adapter = r.adapterBytes() == null || r.adapterBytes() == 0 ? "-" : size(r.adapterBytes()) + (r.adapterIsModel() ? " (model)" : "");
            String infer = m == null || m.inferTokensPerS() == null ? "-" : String.format("%,.0f", m.inferTokensPerS())
                    + (m.mergedInferTokensPerS() == null ? "" : String.format(" / %,.0f merged", m.mergedInferTokensPerS()));
            out.add(new String[]{r.method(), trainable, adapter, m == null ? "-" : Report.mib(m.peakRssBytes()),
                    m == null || m.stepS() == null ? "-" : String.format("%.3f", m.stepS()),
                    m == null || m.trainTokensPerS() == null ? "-" : String.format("%,.0f", m.trainTokensPerS()),
                    r.trainLoss() == null ? "-" : String.format("%.4f", r.trainLoss()),
                    r.valLoss() == null ? "-" : String.format("%.4f", r.valLoss()),
                    r.valPerplexity() == null ? "-" : String.format("%.2f", r.valPerplexity()),
                    r.exactMatch() == null ? "-" : String.format("%.0f%% (%d/%d)", 100 * r.exactMatch(), r.exactCorrect(), r.exactTotal()),
                    infer});
            if (devices) {
                String[] c = java.util.Arrays.copyOf(out.getLast(), COLUMNS.length + 1);
                c[COLUMNS.length] = r.device() == null ? "-" : r.device();
                out.set(out.size() - 1, c);
            }
        }
        return out;
    }

    static String percent(long part, long whole) {
        if (whole <= 0) return "?";
        double p = 100.0 * part / whole;
        return p == 0 ? "0%" : p >= 10 ? String.format("%.1f%%", p) : p >= 0.1 ? String.format("%.2f%%", p) : String.format("%.3f%%", p);
    }

    static String size(long bytes) {
        return bytes >= 1_000_000 ? String.format("%.2f MB", bytes / 1e6) : String.format("%.1f KB", bytes / 1e3);
    }

    /** The table in fixed-width columns, then each method's answers to the held-out prompts. */
    static void print(PrintWriter w, List<CompareResult.Row> rows) {
        List<String[]> cells = cells(rows);
        String[] columns = columns(rows);
        int[] width = new int[columns.length];
        for (int c = 0; c < columns.length; c++) width[c] = columns[c].length();
        for (String[] r : cells) {
            if (r[2].isEmpty() && r[3].isEmpty()) { // a failed row: its reason runs across
                width[0] = Math.max(width[0], r[0].length());
                continue;
            }
            for (int c = 0; c < columns.length; c++) width[c] = Math.max(width[c], r[c].length());
        }
        w.println();
        w.println(line(columns, width));
        for (String[] r : cells) {
            if (r[2].isEmpty() && r[3].isEmpty()) w.println(String.format("%-" + width[0] + "s  %s", r[0], r[1]));
            else w.println(line(r, width));
        }
        w.println();
        w.println("held-out prompts, greedy answers:");
        for (CompareResult.Row r : rows) {
            if (r.answers().isEmpty()) continue;
            w.printf("  %s%n", r.method());
            for (CompareResult.Answer a : r.answers()) w.printf("    %s%n", answerLine(a));
        }
        w.flush();
    }

    static String answerLine(CompareResult.Answer a) {
        return a.prompt() + " -> " + oneLine(a.answer()) + (a.right() ? "  (right)" : "  (expected " + oneLine(a.expected()) + ")");
    }

    private static String line(String[] cells, int[] width) {
        StringBuilder sb = new StringBuilder();
        for (int c = 0; c < cells.length; c++) {
            if (c > 0) sb.append("  ");
            sb.append(c == 0 ? String.format("%-" + width[c] + "s", cells[c]) : String.format("%" + width[c] + "s", cells[c]));
        }
        return sb.toString().stripTrailing();
    }

    private static String oneLine(String s) {
        return s.replace("\n", "\\n");
    }

    // ---------------------------------------------------------------------------------------
    // report.md
    // ---------------------------------------------------------------------------------------

    static String markdown(Setup s, List<CompareResult.Row> rows) {
        StringBuilder md = new StringBuilder();
        md.append("# peft4j compare\n\n");
        md.append(String.format("Model `%s`, data `%s`, seed %d, %d held-out examples, batch %d (micro-batch %d).  %n", s.model(), s.data(), s.seed(),
                s.valSize(), s.batchSize(), s.microBatchSize()));
        md.append(String.format("CPU: %s. Load average (1, 5, 15 min) before: %s, after: %s. Wall time %.0f s.%n%n", s.cpu(), s.loadBefore(),
                s.loadAfter(), s.wallSeconds()));
        if (s.interrupted()) {
            md.append("**Interrupted** (Ctrl-C): the table has the methods that finished");
            md.append(s.notRun().isEmpty() ? ".\n\n" : "; not finished: " + String.join(", ", s.notRun()) + ".\n\n");
        }
        String[] columns = columns(rows);
        md.append("| ").append(String.join(" | ", columns)).append(" |\n|");
        for (int c = 0; c < columns.length; c++) md.append(c == 0 ? "---|" : "---:|");
        md.append('\n');
        for (String[] r : cells(rows)) {
            md.append("| ");
            for (int c = 0; c < r.length; c++) md.append(c == 0 ? "" : " | ").append(r[c].replace("|", "\\|"));
            md.append(" |\n");
        }
        md.append('\n');
        md.append("Learning rate and steps per method: ");
        List<String> plans = new ArrayList<>();
        for (CompareResult.Row r : rows) if (r.lr() != null) plans.add(String.format("%s %.0e x %d", r.method(), r.lr(), r.steps()));
        md.append(plans.isEmpty() ? "none trained" : String.join(", ", plans)).append(". ");
        md.append("Train loss: the mean of the last 10 steps; val loss and perplexity: the held-out examples' response tokens; "
                + "exact match: greedy answers equal to the expected response; infer tok/s: greedy decoding (LoRA also merged into the base); "
                + "peak mem: the method's own process (VmHWM).\n\n");
        md.append("## Loss\n\n![training loss](train_loss.png)\n\n![validation loss](val_loss.png)\n\n");
        md.append("## Size, memory, speed\n\n![trainable parameters](trainable_params.png)\n\n![peak memory](peak_memory.png)\n\n")
                .append("![tokens per second](tokens_per_s.png)\n\n");
        md.append("## Answers to held-out prompts (greedy)\n\n");
        for (CompareResult.Row r : rows) {
            if (r.answers().isEmpty()) continue;
            md.append("**").append(r.method()).append("**\n\n");
            for (CompareResult.Answer a : r.answers()) md.append("- `").append(answerLine(a).replace("`", "'")).append("`\n");
            md.append('\n');
        }
        return md.toString();
    }

    // ---------------------------------------------------------------------------------------
    // charts
    // ---------------------------------------------------------------------------------------

    static void charts(Path dir, List<CompareResult.Row> rows) throws IOException {
        XYSeriesCollection train = new XYSeriesCollection(), val = new XYSeriesCollection();
        int maxSteps = 1;
        for (CompareResult.Row r : rows) maxSteps = Math.max(maxSteps, r.trainCurve().length);
        for (CompareResult.Row r : rows) {
            double[] c = r.trainCurve();
            if (c.length > 0) {
                XYSeries s = new XYSeries(r.method(), false, true);
                int window = Math.max(1, Math.min(10, c.length / 10));
                double sum = 0;
                for (int i = 0; i < c.length; i++) {
                    sum += c[i];
                    if (i >= window) sum -= c[i - window];
                    if (Double.isFinite(sum)) s.add(i + 1, sum / Math.min(i + 1, window));
                }
                train.addSeries(s);
            }
            if (!r.valCurve().isEmpty()) {
                XYSeries s = new XYSeries(r.method(), false, true);
                if (r.method().equals(CompareCommand.BASE)) {
                    s.add(0, r.valCurve().get(0)[1]);
                    s.add(maxSteps, r.valCurve().get(0)[1]);
                } else {
                    for (double[] p : r.valCurve()) if (Double.isFinite(p[1])) s.add(p[0], p[1]);
                }
                val.addSeries(s);
            }
        }
        png(dir.resolve("train_loss.png"), lines("Training loss (moving mean over up to 10 steps)", "step", "loss", train));
        png(dir.resolve("val_loss.png"), lines("Validation loss (held-out responses)", "step", "loss", val));

        DefaultCategoryDataset params = new DefaultCategoryDataset(), memory = new DefaultCategoryDataset(), speed = new DefaultCategoryDataset();
        for (CompareResult.Row r : rows) {
            if (!r.ok()) continue;
            if (r.trainableParams() > 0) params.addValue(r.trainableParams(), "trainable parameters", r.method());
            CompareResult.Measured m = r.measured();
            if (m == null) continue;
            if (m.peakRssBytes() > 0) memory.addValue(m.peakRssBytes() / (1024.0 * 1024.0), "peak memory (MiB)", r.method());
        }
        // the methods in the table's order and the series in a fixed one (a dataset orders both by first appearance)
        for (CompareResult.Row r : rows) if (r.ok() && r.measured() != null) speed.addValue((Number) null, "training", r.method());
        for (String series : new String[]{"training", "inference", "inference, merged"}) {
            for (CompareResult.Row r : rows) {
                CompareResult.Measured m = r.measured();
                if (!r.ok() || m == null) continue;
                Double v = switch (series) {
                    case "training" -> m.trainTokensPerS();
                    case "inference" -> m.inferTokensPerS();
                    default -> m.mergedInferTokensPerS();
                };
                if (v != null) speed.addValue(v, series, r.method());
            }
        }
        JFreeChart p = bars("Trainable parameters (log scale)", "parameters", params, false);
        LogAxis log = new LogAxis("parameters");
        log.setBase(10);
        log.setSmallestValue(1);
        log.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        log.setNumberFormatOverride(new java.text.DecimalFormat("#,##0"));
        p.getCategoryPlot().setRangeAxis(log);
        png(dir.resolve("trainable_params.png"), p);
        png(dir.resolve("peak_memory.png"), bars("Peak memory of each method's process", "MiB", memory, false));
        png(dir.resolve("tokens_per_s.png"), bars("Tokens per second", "tokens/s", speed, true));
    }

    private static final Color[] PALETTE = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c), new Color(0xff7f0e),
            new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x7f7f7f), new Color(0xbcbd22), new Color(0x17becf)};

    private static JFreeChart lines(String title, String x, String y, XYSeriesCollection data) {
        JFreeChart chart = ChartFactory.createXYLineChart(title, x, y, data, PlotOrientation.VERTICAL, true, false, false);
        XYPlot plot = chart.getXYPlot();
        style(chart);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, false);
        for (int i = 0; i < data.getSeriesCount(); i++) {
            r.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
            boolean base = data.getSeriesKey(i).equals(CompareCommand.BASE);
            r.setSeriesStroke(i, base ? new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[]{8f, 6f}, 0f)
                    : new BasicStroke(2f));
            r.setSeriesShapesVisible(i, data.getItemCount(i) <= 30 && !base);
        }
        plot.setRenderer(r);
        NumberAxis range = (NumberAxis) plot.getRangeAxis();
        range.setAutoRangeIncludesZero(true);
        ((NumberAxis) plot.getDomainAxis()).setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        return chart;
    }

    private static JFreeChart bars(String title, String y, DefaultCategoryDataset data, boolean legend) {
        JFreeChart chart = ChartFactory.createBarChart(title, null, y, data, PlotOrientation.VERTICAL, legend, false, false);
        style(chart);
        CategoryPlot plot = chart.getCategoryPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        BarRenderer r = (BarRenderer) plot.getRenderer();
        r.setBarPainter(new StandardBarPainter());
        r.setShadowVisible(false);
        r.setItemMargin(0.05);
        for (int i = 0; i < data.getRowCount(); i++) r.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
        r.setDefaultItemLabelGenerator(new StandardCategoryItemLabelGenerator("{2}", new java.text.DecimalFormat("#,##0")));
        r.setDefaultItemLabelsVisible(true);
        r.setDefaultItemLabelFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        CategoryAxis x = plot.getDomainAxis();
        x.setCategoryLabelPositions(data.getColumnCount() > 5 ? CategoryLabelPositions.UP_45 : CategoryLabelPositions.STANDARD);
        x.setMaximumCategoryLabelLines(2);
        return chart;
    }

    private static void style(JFreeChart chart) {
        chart.setBackgroundPaint(Color.WHITE);
        chart.getTitle().setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
        chart.setAntiAlias(true);
    }

    private static void png(Path file, JFreeChart chart) throws IOException {
        BufferedImage img = chart.createBufferedImage(900, 500);
        ImageIO.setUseCache(false);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ImageIO.write(img, "png", bytes);
        AtomicFiles.write(file, bytes.toByteArray());
    }
}
