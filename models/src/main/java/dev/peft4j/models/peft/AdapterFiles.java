package dev.peft4j.models.peft;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.PeftMethod;
import dev.peft4j.api.UserException;
import dev.peft4j.api.io.AtomicFiles;
import dev.peft4j.api.io.DType;
import dev.peft4j.api.io.Safetensors;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Adapter-only checkpoints in Hugging Face PEFT's layout: {@code adapter_config.json} and
 * {@code adapter_model.safetensors}. One adapter goes in the directory itself; several (a
 * composition) go in one sub-directory each, named after the adapter, as PEFT does for
 * non-default adapters. Every file is written atomically.
 */
public final class AdapterFiles {
    public static final String CONFIG = "adapter_config.json";
    public static final String WEIGHTS = "adapter_model.safetensors";

    private AdapterFiles() {}

    /** Writes one adapter into {@code dir}. */
    public static void save(PeftModel.Installed adapter, Path dir, PeftMethods methods, String baseModelName) throws IOException {
        if (adapter.method().exclusive()) {
            throw new UserException("'" + adapter.method().name() + "' trains the whole model: save it as a full checkpoint, not an adapter");
        }
        Files.createDirectories(dir);
        ObjectNode cfg = methods.json().valueToTree(adapter.adapter().config());
        String type = adapter.adapter().config().peftType();
        cfg.put("peft_type", adapter.method().peftTypes().contains(type) ? type : adapter.method().peftType());
        if (baseModelName != null && (!cfg.hasNonNull("base_model_name_or_path"))) cfg.put("base_model_name_or_path", baseModelName);
        cfg.put("peft4j_method", adapter.method().name());
        cfg.put("peft4j_version", adapter.method().version());
        byte[] json = methods.json().copy().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsBytes(cfg);
        Safetensors.write(dir.resolve(WEIGHTS), adapter.adapter().stateToSave(), DType.F32,
                Map.of("format", "pt", "peft4j_method", adapter.method().name()));
        AtomicFiles.write(dir.resolve(CONFIG), json);
    }

    /** Writes every active adapter: in {@code dir} if there is one, else in {@code dir/<name>/} each. */
    public static void saveAll(PeftModel model, Path dir, PeftMethods methods, String baseModelName) throws IOException {
        List<PeftModel.Installed> active = model.adapters().values().stream().filter(PeftModel.Installed::active).toList();
        if (active.isEmpty()) throw new UserException("no active adapter to save");
        if (active.size() == 1) {
            save(active.get(0), dir, methods, baseModelName);
        } else {
            for (PeftModel.Installed a : active) save(a, dir.resolve(a.name()), methods, baseModelName);
        }
    }

    /** Whether {@code dir} holds one adapter or sub-directories of adapters. */
    public static boolean isAdapterDir(Path dir) {
        return Files.isRegularFile(dir.resolve(CONFIG));
    }

    /** Loads the adapter(s) saved in {@code dir} onto the model, with their trained weights. */
    public static List<PeftModel.Installed> load(PeftModel model, Path dir, PeftMethods methods) {
        if (!Files.isDirectory(dir)) throw new UserException("--adapter: " + dir + " is not a directory");
        if (isAdapterDir(dir)) {
            String name = defaultName(dir, methods);
            if (model.adapters().containsKey(name)) name = dir.toAbsolutePath().normalize().getFileName().toString();
            return List.of(loadOne(model, dir, methods, name));
        }
        List<Path> subs;
        try (Stream<Path> s = Files.list(dir)) {
            subs = s.filter(AdapterFiles::isAdapterDir).sorted().toList();
        } catch (IOException e) {
            throw new UserException("--adapter: cannot list " + dir + ": " + e.getMessage(), e);
        }
        if (subs.isEmpty()) throw new UserException(dir + " holds no " + CONFIG + " (nor sub-directories with one)");
        List<PeftModel.Installed> out = new ArrayList<>();
        for (Path sub : subs) out.add(loadOne(model, sub, methods, sub.getFileName().toString()));
        return out;
    }

    private static String defaultName(Path dir, PeftMethods methods) {
        return readConfigNode(dir).path("peft4j_method").asText(methodOf(readConfigNode(dir), dir, methods).name());
    }

    private static JsonNode readConfigNode(Path dir) {
        Path file = dir.resolve(CONFIG);
        try {
            JsonNode node = new com.fasterxml.jackson.databind.ObjectMapper().readTree(Files.readString(file, StandardCharsets.UTF_8));
            if (node == null || !node.isObject()) throw new UserException(file + ": not a JSON object");
            return node;
        } catch (IOException e) {
            throw new UserException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    private static PeftMethod<?> methodOf(JsonNode cfg, Path dir, PeftMethods methods) {
        if (cfg.hasNonNull("peft4j_method")) return methods.get(cfg.get("peft4j_method").asText());
        if (!cfg.hasNonNull("peft_type")) throw new UserException(dir.resolve(CONFIG) + ": field peft_type is missing");
        return methods.byPeftType(cfg.get("peft_type").asText());
    }

    private static PeftModel.Installed loadOne(PeftModel model, Path dir, PeftMethods methods, String name) {
        JsonNode node = readConfigNode(dir);
        PeftMethod<?> method = methodOf(node, dir, methods);
        ObjectNode clean = ((ObjectNode) node).deepCopy();
        clean.remove("peft4j_method");
        clean.remove("peft4j_version");
        return install(model, dir, methods, method, clean, name);
    }

    private static <C extends PeftConfig> PeftModel.Installed install(PeftModel model, Path dir, PeftMethods methods, PeftMethod<C> method,
                                                                      ObjectNode cfg, String name) {
        C config = methods.readConfig(method, cfg.toString(), dir.resolve(CONFIG).toString());
        PeftModel.Installed installed = model.restore(name, method, config);
        Path weights = dir.resolve(WEIGHTS);
        if (!Files.isRegularFile(weights)) {
            model.unload(name);
            throw new UserException(dir + ": " + WEIGHTS + " is missing");
        }
        try (Safetensors st = Safetensors.open(weights)) {
            Map<String, Safetensors.Tensor> tensors = new HashMap<>();
            for (String t : st.names()) {
                long[] shape = st.shape(t);
                int[] s = new int[shape.length];
                for (int i = 0; i < s.length; i++) s[i] = Math.toIntExact(shape[i]);
                tensors.put(t, new Safetensors.Tensor(t, s, st.readFloats(t)));
            }
            installed.adapter().loadState(tensors, weights.toString());
        } catch (RuntimeException e) {
            model.unload(name);
            throw e;
        }
        return installed;
    }
}
