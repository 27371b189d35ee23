package dev.peft4j.models.testplugin;

import dev.peft4j.api.PeftMethod;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

/**
 * The IA³ plugin as a third party would ship it: its sources (models/src/test/plugins/ia3, outside every source root, so
 * nothing on the test class path knows it) compiled against the api and kernels on the class path and packaged,
 * with its META-INF/services entry, as {@code target/ia3-plugin/peft4j-ia3.jar}: a directory for
 * {@code --plugins}. Built once per test JVM; the jar's bytes are deterministic (sorted entries, fixed times).
 */
public final class Ia3Plugin {
    public static final String METHOD_CLASS = "dev.peft4j.ia3.Ia3Method";
    // from the models module's tests, or from another module's (the CLI's), both run in their module's directory
    private static final Path SOURCES = Files.isDirectory(Path.of("src/test/plugins/ia3")) ? Path.of("src/test/plugins/ia3")
            : Path.of("../models/src/test/plugins/ia3");
    private static final Path OUT = Path.of("target/ia3-plugin");
    private static Path dir;

    private Ia3Plugin() {}

    /** The plugins directory holding the jar. */
    public static synchronized Path dir() {
        if (dir != null) return dir;
        try {
            Path classes = OUT.resolve("classes"), plugins = OUT.resolve("plugins");
            for (Path p : List.of(classes, plugins)) {
                if (Files.exists(p)) try (Stream<Path> s = Files.walk(p)) {
                    for (Path f : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(f);
                }
                Files.createDirectories(p);
            }
            List<String> sources;
            try (Stream<Path> s = Files.walk(SOURCES)) {
                sources = s.filter(f -> f.toString().endsWith(".java")).map(Path::toString).sorted().toList();
            }
            if (sources.isEmpty()) throw new IllegalStateException("no IA3 sources under " + SOURCES.toAbsolutePath());
            JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
            java.io.ByteArrayOutputStream log = new java.io.ByteArrayOutputStream();
            List<String> args = new java.util.ArrayList<>(List.of("--release", "25", "-g", "-proc:none",
                    "-classpath", System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")), "-d", classes.toString()));
            args.addAll(sources);
            int rc = javac.run(null, log, log, args.toArray(String[]::new));
            if (rc != 0) throw new IllegalStateException("javac failed on the IA3 plugin:\n" + log.toString(StandardCharsets.UTF_8));
            Path jar = plugins.resolve("peft4j-ia3.jar");
            try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar));
                 Stream<Path> s = Files.walk(classes)) {
                put(out, "META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n".getBytes(StandardCharsets.UTF_8));
                put(out, "META-INF/services/" + PeftMethod.class.getName(), (METHOD_CLASS + "\n").getBytes(StandardCharsets.UTF_8));
                for (Path f : s.filter(Files::isRegularFile).sorted().toList()) {
                    put(out, classes.relativize(f).toString().replace('\\', '/'), Files.readAllBytes(f));
                }
            }
            dir = plugins;
            return dir;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void put(JarOutputStream out, String name, byte[] bytes) throws IOException {
        JarEntry e = new JarEntry(name);
        e.setTime(315532800000L); // 1980-01-01: the same bytes every build
        out.putNextEntry(e);
        out.write(bytes);
        out.closeEntry();
    }
}
