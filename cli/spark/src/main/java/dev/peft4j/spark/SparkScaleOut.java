package dev.peft4j.spark;

import dev.peft4j.api.UserException;
import dev.peft4j.cli.scaleout.ScaleOut;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Serializable;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.rdd.RDD;
import scala.Tuple2;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

/**
 * {@code peft4j finetune ... --spark MASTER --workers N}: N barrier tasks ({@code RDD.barrier().mapPartitions}), all
 * started together, each one rank of a data-parallel run ({@link TrainTask}); gradients go round a
 * {@link RingAllReduce} between the tasks, never through the driver.
 *
 * <p>Before training: the master is checked (a {@code spark://} master must accept a connection; {@code local[K]}
 * must have K ≥ N slots), and a plain job of N tasks checks that every path the command reads exists and can be
 * read where the tasks run; each failure is a UserException naming the flag.
 *
 * <p>A task that fails (or hangs past the ring's timeout, {@code -Dpeft4j.spark.timeout.s}, default 600) fails the
 * barrier stage; the stage is a shuffle-map stage, which Spark retries (up to {@code spark.stage.maxConsecutiveAttempts},
 * default 4) with every task relaunched, and the relaunched ranks continue from the checkpoint in {@code --out}.
 */
public final class SparkScaleOut implements ScaleOut {
    private static final Pattern LOCAL = Pattern.compile("local\\[(\\d+|\\*)(?:,(\\d+))?]");

    @Override
    public String name() {
        return "spark";
    }

    @Override
    public int finetune(String master, int workers, List<String> args, PrintWriter out, PrintWriter err) throws Exception {
        String m = effectiveMaster(master, workers);
        args = absolute(args);
        List<String[]> inputs = inputPaths(args);
        SparkConf conf = new SparkConf().setAppName("peft4j finetune").setMaster(m);
        if (m.startsWith("local")) {
            conf.setIfMissing("spark.ui.enabled", "false");
            conf.setIfMissing("spark.driver.host", "127.0.0.1");
            conf.setIfMissing("spark.driver.bindAddress", "127.0.0.1");
        }
        conf.setIfMissing("spark.stage.maxConsecutiveAttempts", "4");
        long timeoutMillis = Long.getLong("peft4j.spark.timeout.s", 600) * 1000;
        String failAt = System.getProperty("peft4j.spark.test.failAt");
        try {
            return run(conf, workers, inputs, args, timeoutMillis, failAt, out, err);
        } catch (Exception e) { // Scala throws SparkException, a checked exception, undeclared
            if (!(e instanceof org.apache.spark.SparkException)) throw e;
            // the cluster gave up (executors that cannot start, a stage out of attempts): one line, not a stack trace
            String why = e.getMessage() == null ? e.toString() : e.getMessage().lines().findFirst().orElse("");
            throw new UserException("--spark " + master + ": the Spark job failed: " + why
                    + " (Spark's log above has the executors' errors; checkpoints already written in --out are kept, so --resume continues)", e);
        }
    }

    private static int run(SparkConf conf, int workers, List<String[]> inputs, List<String> args, long timeoutMillis, String failAt,
                           PrintWriter out, PrintWriter err) throws Exception {
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            sc.setLogLevel(System.getProperty("peft4j.spark.log", "WARN"));
            List<Integer> ranks = new ArrayList<>();
            for (int r = 0; r < workers; r++) ranks.add(r);
            // Before training: every path the command reads, read where the tasks run.
            List<String> problems = sc.parallelize(ranks, workers).map(new CheckPaths(inputs)).collect();
            for (String p : problems) if (!p.isEmpty()) throw new UserException(p);

            ClassTag<String> stringTag = ClassTag$.MODULE$.apply(String.class);
            RDD<Integer> seeds = sc.parallelize(ranks, workers).rdd();
            long session = System.nanoTime() ^ ((long) workers << 56);
            RDD<String> trained = seeds.barrier().mapPartitions(new TrainTask(args, session, timeoutMillis, failAt), false, stringTag);
            // A shuffle after the barrier stage makes it a shuffle-map stage, which Spark retries whole when a task
            // fails (a failed barrier result stage is not retried).
            List<String> results = JavaRDD.fromRDD(trained, stringTag).mapToPair(s -> new Tuple2<>(Integer.parseInt(s.substring(0, s.indexOf(' '))), s))
                    .groupByKey(1).values().flatMap(it -> it.iterator()).collect();
            return report(results, workers, out, err);
        }
    }

    /** Prints rank 0's output (and any rank's error) and returns the run's exit code. */
    private static int report(List<String> results, int workers, PrintWriter out, PrintWriter err) {
        String[] byRank = new String[workers];
        for (String s : results) byRank[Integer.parseInt(s.substring(0, s.indexOf(' ')))] = s;
        int code = 0;
        for (int r = 0; r < workers; r++) {
            String s = byRank[r];
            if (s == null) throw new IllegalStateException("rank " + r + " returned nothing");
            String[] head = s.split("\n", 2)[0].split(" ");
            int rc = Integer.parseInt(head[1]);
            String body = s.contains("\n") ? s.split("\n", 2)[1] : "";
            String[] parts = body.split("\u0000", 2);
            if (r == 0) {
                out.print(parts[0]);
                out.flush();
            }
            if (rc != 0) {
                if (parts.length > 1 && (code == 0)) {
                    err.print(parts[1]);
                    err.flush();
                }
                code = Math.max(code, rc);
            }
        }
        return code;
    }

    /**
     * The master Spark is given: as asked, after checking it. {@code local[K]} needs K ≥ N (a barrier stage needs all its
     * slots at once) and gets a task-failure allowance; {@code spark://H:P[,H2:P2]} must accept a TCP connection.
     */
    static String effectiveMaster(String master, int workers) {
        String m = master.trim();
        if (m.equals("local")) m = "local[1]";
        Matcher lm = LOCAL.matcher(m);
        if (lm.matches()) {
            int slots = lm.group(1).equals("*") ? Runtime.getRuntime().availableProcessors() : Integer.parseInt(lm.group(1));
            if (slots < workers) {
                throw new UserException("--workers " + workers + " needs " + workers + " task slots at once (a barrier stage), but --spark " + master
                        + " has " + slots + ": use local[" + workers + "]");
            }
            return "local[" + slots + "," + (lm.group(2) == null ? "4" : lm.group(2)) + "]";
        }
        if (m.startsWith("local")) throw new UserException("--spark " + master + ": not a master (local, local[N], local[N,F], spark://HOST:PORT, yarn, k8s://URL)");
        if (m.startsWith("spark://")) {
            for (String hp : m.substring("spark://".length()).split(",")) {
                int colon = hp.lastIndexOf(':');
                if (colon < 0) throw new UserException("--spark " + master + ": " + hp + " has no port (spark://HOST:PORT)");
                String host = hp.substring(0, colon);
                int port;
                try {
                    port = Integer.parseInt(hp.substring(colon + 1));
                } catch (NumberFormatException e) {
                    throw new UserException("--spark " + master + ": " + hp.substring(colon + 1) + " is not a port");
                }
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress(host, port), 5000);
                } catch (IOException e) {
                    throw new UserException("--spark " + master + ": cannot reach the master at " + host + ":" + port + " (" + e.getMessage() + ")");
                }
            }
            return m;
        }
        if (m.equals("yarn") || m.startsWith("k8s://") || m.startsWith("mesos://")) return m;
        throw new UserException("--spark " + master + ": not a master (local, local[N], local[N,F], spark://HOST:PORT, yarn, k8s://URL)");
    }

    private static final List<String> PATH_FLAGS = List.of("--model", "--tokenizer", "--data", "--init-adapter", "--plugins", "--out");

    /**
     * The arguments with every path made absolute (the tasks may run elsewhere), {@code --out} included (given, or the
     * default {@code out/finetune}); {@code --tokenizer byte} stays.
     */
    static List<String> absolute(List<String> args) {
        List<String> r = new ArrayList<>();
        boolean out = false;
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            int eq = a.indexOf('=');
            if (a.startsWith("--") && eq > 0 && PATH_FLAGS.contains(a.substring(0, eq))) {
                out |= a.startsWith("--out=");
                r.add(a.substring(0, eq));
                r.add(absolutePath(a.substring(0, eq), a.substring(eq + 1)));
            } else if (PATH_FLAGS.contains(a) && i + 1 < args.size()) {
                out |= a.equals("--out");
                r.add(a);
                r.add(absolutePath(a, args.get(++i)));
            } else {
                r.add(a);
            }
        }
        if (!out) {
            r.add("--out");
            r.add(Path.of("out", "finetune").toAbsolutePath().toString());
        }
        return r;
    }

    private static String absolutePath(String flag, String value) {
        if (flag.equals("--tokenizer") && value.equals("byte")) return value;
        int bang = flag.equals("--data") ? value.indexOf('!') : -1;
        String file = bang < 0 ? value : value.substring(0, bang);
        return Path.of(file).toAbsolutePath().normalize() + (bang < 0 ? "" : value.substring(bang));
    }

    /** The paths the (absolute) arguments read, as "flag path" pairs; --out is written, not read, and is left out. */
    static List<String[]> inputPaths(List<String> args) {
        List<String[]> paths = new ArrayList<>();
        for (int i = 0; i + 1 < args.size(); i++) {
            String a = args.get(i), v = args.get(i + 1);
            if (!PATH_FLAGS.contains(a) || a.equals("--out") || (a.equals("--tokenizer") && v.equals("byte"))) continue;
            paths.add(new String[]{a, a.equals("--data") && v.contains("!") ? v.substring(0, v.indexOf('!')) : v});
            i++;
        }
        return paths;
    }

    /** On each task: "" if every path is readable, else a message naming the flag and the first path that is not. */
    private record CheckPaths(List<String[]> paths) implements org.apache.spark.api.java.function.Function<Integer, String>, Serializable {
        @Override
        public String call(Integer rank) {
            String where = "on Spark task " + rank + " (host " + host() + ")";
            for (String[] fp : paths) {
                Path p = Path.of(fp[1]);
                if (!Files.exists(p)) return fp[0] + ": " + p + " does not exist " + where + " (every executor must read the same paths: shared storage)";
                if (!Files.isReadable(p)) return fp[0] + ": " + p + " cannot be read " + where;
                if (Files.isDirectory(p)) {
                    try (var list = Files.list(p)) {
                        list.findFirst();
                    } catch (IOException e) {
                        return fp[0] + ": " + p + " cannot be read " + where + ": " + e.getMessage();
                    }
                }
            }
            return "";
        }

        private static String host() {
            try {
                return java.net.InetAddress.getLocalHost().getHostName();
            } catch (IOException e) {
                return "?";
            }
        }
    }
}
