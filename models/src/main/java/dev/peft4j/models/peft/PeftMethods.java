package dev.peft4j.models.peft;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.jsontype.NamedType;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.PeftMethod;
import dev.peft4j.api.UserException;
import java.io.IOException;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The PEFT methods that can be used: discovered with {@link ServiceLoader} from the class path
 * and module path, and from the jars of a plugins directory (in a class loader of their own).
 * Discovery is separate from activation: a run names the methods it installs.
 */
public final class PeftMethods {
    private final Map<String, Found> byName = new TreeMap<>();
    private final ObjectMapper json = new ObjectMapper();

    /** A discovered method and where it came from. */
    public record Found(PeftMethod<?> method, String source) {}

    private PeftMethods() {}

    /** Methods on the class path / module path, plus those in {@code pluginsDir}'s jars (null: none). */
    public static PeftMethods discover(Path pluginsDir) {
        PeftMethods m = new PeftMethods();
        m.load(ServiceLoader.load(PeftMethod.class, PeftMethods.class.getClassLoader()), "class path");
        if (PeftMethods.class.getModule().isNamed()) {
            m.load(ServiceLoader.load(PeftMethods.class.getModule().getLayer(), PeftMethod.class), "module path");
        }
        if (pluginsDir != null) m.loadDirectory(pluginsDir);
        return m;
    }

    private void loadDirectory(Path dir) {
        if (!Files.isDirectory(dir)) throw new UserException("--plugins: " + dir + " is not a directory");
        List<Path> jars;
        try (Stream<Path> s = Files.list(dir)) {
            jars = s.filter(p -> p.toString().endsWith(".jar")).sorted().toList();
        } catch (IOException e) {
            throw new UserException("--plugins: cannot list " + dir + ": " + e.getMessage(), e);
        }
        for (Path jar : jars) {
            URL url;
            try {
                url = jar.toUri().toURL();
            } catch (MalformedURLException e) {
                throw new UserException("plugin jar " + jar + ": " + e.getMessage(), e);
            }
            // One loader per jar, so a broken jar cannot affect the others.
            URLClassLoader loader = new URLClassLoader("peft4j-plugin:" + jar.getFileName(), new URL[]{url}, PeftMethods.class.getClassLoader());
            int before = byName.size();
            load(ServiceLoader.load(PeftMethod.class, loader), "plugin jar " + jar);
            boolean declares = loader.findResource("META-INF/services/" + PeftMethod.class.getName()) != null;
            if (!declares) {
                throw new UserException("plugin jar " + jar + " provides no PEFT method (it has no META-INF/services/"
                        + PeftMethod.class.getName() + ")");
            }
            if (byName.size() == before) throw new UserException("plugin jar " + jar + " declares a provider but none loaded");
        }
    }

    private void load(ServiceLoader<PeftMethod> loader, String source) {
        Iterator<ServiceLoader.Provider<PeftMethod>> it = loader.stream().iterator();
        while (true) {
            ServiceLoader.Provider<PeftMethod> provider;
            try {
                if (!it.hasNext()) break;
                provider = it.next();
            } catch (ServiceConfigurationError e) {
                throw new UserException("a PEFT plugin from the " + source + " failed to load: " + e.getMessage(), e);
            }
            PeftMethod<?> method;
            try {
                method = provider.get();
            } catch (ServiceConfigurationError | RuntimeException | LinkageError e) {
                throw new UserException("PEFT plugin " + provider.type().getName() + " (" + source + ") failed to start: " + e.getMessage(), e);
            }
            Found existing = byName.get(method.name());
            if (existing != null) {
                if (existing.method().getClass() == method.getClass()) continue; // seen through both class and module path
                throw new UserException("two PEFT plugins are named '" + method.name() + "': " + existing.method().getClass().getName()
                        + " (" + existing.source() + ") and " + method.getClass().getName() + " (" + source + ")");
            }
            Module module = method.getClass().getModule();
            byName.put(method.name(), new Found(method, module.isNamed() && !source.startsWith("plugin jar") ? "module " + module.getName() : source));
            for (String type : method.peftTypes()) json.registerSubtypes(new NamedType(method.configType(), type));
        }
    }

    /** The method of that name, or a {@link UserException} listing the known ones. */
    public PeftMethod<?> get(String name) {
        Found f = byName.get(name);
        if (f == null) throw new UserException("unknown method '" + name + "' (available: " + String.join(", ", byName.keySet()) + ")");
        return f.method();
    }

    /** The method whose adapter files have this {@code peft_type}. */
    public PeftMethod<?> byPeftType(String peftType) {
        for (Found f : byName.values()) {
            for (String t : f.method().peftTypes()) if (t.equalsIgnoreCase(peftType)) return f.method();
        }
        throw new UserException("no installed plugin reads adapters of peft_type '" + peftType + "'");
    }

    public Collection<Found> all() {
        return new ArrayList<>(byName.values());
    }

    /** A JSON mapper that reads and writes every discovered method's config, polymorphic on peft_type. */
    public ObjectMapper json() {
        return json;
    }

    /** Reads a method's config from JSON (an object; unknown fields are an error naming them). */
    public <C extends PeftConfig> C readConfig(PeftMethod<C> method, String jsonText, String source) {
        try {
            return json.readValue(jsonText, method.configType());
        } catch (IOException e) {
            throw new UserException(source + ": not a valid " + method.name() + " config: " + e.getMessage(), e);
        }
    }
}
