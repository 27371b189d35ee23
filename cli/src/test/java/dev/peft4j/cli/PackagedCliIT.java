package dev.peft4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The packaged CLI, run as users run it: on the module path (every module descriptor, the
 * services each plugin provides) and through the {@code ./peft4j} launcher.
 */
class PackagedCliIT {
    private static final Path TARGET = Path.of("target");
    private static final Path ROOT = Path.of("..");

    private static String run(List<String> command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", command) + " failed:\n" + out);
        return out;
    }

    private static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    @Test
    void runsOnTheModulePathAndFindsEveryPluginThroughItsModule() throws Exception {
        String modulePath = TARGET.resolve("peft4j-cli.jar") + java.io.File.pathSeparator + TARGET.resolve("lib");
        String out = run(List.of(java(), "--add-modules", "jdk.incubator.vector", "-p", modulePath, "-m", "dev.peft4j.cli/dev.peft4j.cli.Main", "plugins"));
        for (String m : new String[]{"full", "lora", "prefix", "llama-adapter"}) assertTrue(out.contains("  " + m + " "), out);
        assertTrue(out.contains("module dev.peft4j.lora") && out.contains("module dev.peft4j.prefix"), out);
    }

    @Test
    void thePlainCliCarriesNoSpark() throws IOException {
        // Spark lives in the cli/spark sub-artifact: none of its (or Scala's) jars in the plain CLI's lib/
        try (var jars = Files.list(TARGET.resolve("lib"))) {
            List<String> names = jars.map(p -> p.getFileName().toString()).toList();
            assertTrue(names.stream().noneMatch(n -> n.startsWith("spark-") || n.startsWith("scala-") || n.startsWith("peft4j-spark")), names.toString());
        }
    }

    @Test
    void theLauncherRunsTheMainJob() throws Exception {
        List<String> cmd = new ArrayList<>(List.of("bash", ROOT.resolve("peft4j").toString(), "generate", "--max-new-tokens", "4", "--json"));
        String out = run(cmd);
        String last = out.strip().substring(out.strip().lastIndexOf('\n') + 1);
        assertTrue(last.startsWith("{") && last.contains("\"new_tokens\":4"), out);
        assertTrue(Files.exists(ROOT.resolve("cli/target/peft4j-cli.jar")));
    }
}
