package dev.peft4j.models.peft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.UserException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Discovery from the class path and from a plugins directory, and the errors that name what went wrong. */
class PeftMethodsTest {
    @TempDir Path dir;

    /** Compiles a PeftMethod whose name and constructor body are given, into a jar in {@code plugins}. */
    private Path pluginJar(Path plugins, String jarName, String className, String methodName, String constructorBody, boolean services)
            throws IOException {
        Path src = dir.resolve("src-" + jarName), classes = dir.resolve("classes-" + jarName);
        Files.createDirectories(src.resolve("probe"));
        Files.createDirectories(classes);
        Files.writeString(src.resolve("probe/" + className + ".java"), """
                package probe;
                import dev.peft4j.api.*;
                public final class %s implements PeftMethod<%s.Config> {
                    public record Config(String peftType) implements PeftConfig {}
                    public %s() { %s }
                    public String name() { return "%s"; }
                    public String version() { return "0.1"; }
                    public String description() { return "a probe"; }
                    public String peftType() { return "PROBE_%s"; }
                    public Class<Config> configType() { return Config.class; }
                    public Config defaultConfig() { return new Config("PROBE_%s"); }
                    public Adapter install(Config c, InstallContext ctx) { throw new UnsupportedOperationException(); }
                }
                """.formatted(className, className, className, constructorBody, methodName, className, className));
        Path javac = Path.of(System.getProperty("java.home"), "bin", "javac");
        Process p = new ProcessBuilder(javac.toString(), "-d", classes.toString(), "-cp", System.getProperty("java.class.path"),
                src.resolve("probe/" + className + ".java").toString()).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            assertEquals(0, p.waitFor(), "compiling the probe plugin: " + log);
        } catch (InterruptedException e) {
            throw new IOException(e);
        }
        Files.createDirectories(plugins);
        Path jar = plugins.resolve(jarName);
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar))) {
            try (var files = Files.walk(classes)) {
                for (Path f : files.filter(Files::isRegularFile).toList()) {
                    out.putNextEntry(new JarEntry(classes.relativize(f).toString().replace('\\', '/')));
                    out.write(Files.readAllBytes(f));
                }
            }
            if (services) {
                out.putNextEntry(new JarEntry("META-INF/services/dev.peft4j.api.PeftMethod"));
                out.write(("probe." + className + "\n").getBytes(StandardCharsets.UTF_8));
            }
        }
        return jar;
    }

    @Test
    void findsBuiltInMethodsAndRefusesUnknownNames() {
        PeftMethods m = PeftMethods.discover(null);
        assertEquals("full", m.get("full").name());
        var e = assertThrows(UserException.class, () -> m.get("dora"));
        assertTrue(e.getMessage().startsWith("unknown method 'dora' (available: full"), e.getMessage());
    }

    @Test
    void loadsPluginJarsFromADirectory() throws IOException {
        Path plugins = dir.resolve("plugins");
        pluginJar(plugins, "probe.jar", "Probe", "probe", "", true);
        PeftMethods m = PeftMethods.discover(plugins);
        assertEquals("probe", m.get("probe").name());
        var found = m.all().stream().filter(f -> f.method().name().equals("probe")).findFirst().orElseThrow();
        assertTrue(found.source().startsWith("plugin jar ") && found.source().endsWith("probe.jar"), found.source());
    }

    @Test
    void twoPluginsWithOneNameAreAnError() throws IOException {
        Path plugins = dir.resolve("plugins");
        pluginJar(plugins, "imposter.jar", "Imposter", "full", "", true);
        var e = assertThrows(UserException.class, () -> PeftMethods.discover(plugins));
        assertTrue(e.getMessage().startsWith("two PEFT plugins are named 'full': dev.peft4j.models.peft.FullFineTuning"), e.getMessage());
        assertTrue(e.getMessage().contains("probe.Imposter (plugin jar " + plugins.resolve("imposter.jar") + ")"), e.getMessage());
    }

    @Test
    void aJarWithoutAProviderIsAnError() throws IOException {
        Path plugins = dir.resolve("plugins");
        Path jar = pluginJar(plugins, "empty.jar", "Empty", "empty", "", false);
        var e = assertThrows(UserException.class, () -> PeftMethods.discover(plugins));
        assertEquals("plugin jar " + jar + " provides no PEFT method (it has no META-INF/services/dev.peft4j.api.PeftMethod)", e.getMessage());
    }

    @Test
    void aProviderThatThrowsIsAnErrorNamingIt() throws IOException {
        Path plugins = dir.resolve("plugins");
        pluginJar(plugins, "broken.jar", "Broken", "broken", "if (true) throw new IllegalStateException(\"no GPU found\");", true);
        var e = assertThrows(UserException.class, () -> PeftMethods.discover(plugins));
        assertTrue(e.getMessage().contains("probe.Broken") && e.getMessage().contains("failed to start"), e.getMessage());
    }

    @Test
    void aServicesFileNamingAMissingClassIsAnError() throws IOException {
        Path plugins = dir.resolve("plugins");
        Files.createDirectories(plugins);
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(plugins.resolve("typo.jar")))) {
            out.putNextEntry(new JarEntry("META-INF/services/dev.peft4j.api.PeftMethod"));
            out.write("probe.DoesNotExist\n".getBytes(StandardCharsets.UTF_8));
        }
        var e = assertThrows(UserException.class, () -> PeftMethods.discover(plugins));
        assertTrue(e.getMessage().contains("typo.jar") && e.getMessage().contains("failed to load") && e.getMessage().contains("probe.DoesNotExist"),
                e.getMessage());
    }

    @Test
    void aMissingDirectoryIsAnError() {
        var e = assertThrows(UserException.class, () -> PeftMethods.discover(dir.resolve("nope")));
        assertEquals("--plugins: " + dir.resolve("nope") + " is not a directory", e.getMessage());
    }
}
