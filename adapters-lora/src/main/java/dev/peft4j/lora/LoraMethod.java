package dev.peft4j.lora;

import dev.peft4j.api.Adapter;
import dev.peft4j.api.DeviceForm;
import dev.peft4j.api.InstallContext;
import dev.peft4j.api.LinearSite;
import dev.peft4j.api.MethodOption;
import dev.peft4j.api.ModelShape;
import dev.peft4j.api.ParamSpec;
import dev.peft4j.api.Parameter;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.PeftMethod;
import dev.peft4j.api.UserException;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * LoRA: Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models" (2021).
 *
 * <pre>
 *        x ──▶ W (frozen) ──────────────▶ (+) ──▶ y
 *        └──▶ A [r×in] ──▶ B [out×r] ──·s─┘        s = alpha / r   (rsLoRA: alpha / √r)
 * </pre>
 *
 * Init: A kaiming-uniform with a = √5 (nn.Linear's default; "gaussian": N(0, 1/r²)), B zero, so
 * the model is unchanged at the start. Parameters are named as Hugging Face PEFT saves them
 * ({@code base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight}), so adapter files move
 * between peft4j and PEFT.
 */
public final class LoraMethod implements PeftMethod<LoraConfig> {
    static final List<String> LINEAR_NAMES = List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

    @Override public String name() { return "lora"; }
    @Override public String version() { return "1.0"; }
    @Override public String description() { return "LoRA: trainable low-rank updates B·A beside frozen linear weights"; }
    @Override public String peftType() { return "LORA"; }
    @Override public Class<LoraConfig> configType() { return LoraConfig.class; }
    @Override public LoraConfig defaultConfig() { return LoraConfig.of(8, 16, List.of("q_proj", "v_proj")); }

    @Override
    public List<MethodOption> options() {
        return List.of(
                MethodOption.of("--lora-r", "r", MethodOption.Kind.INT, "R", "LoRA rank (default 8)."),
                MethodOption.of("--lora-alpha", "lora_alpha", MethodOption.Kind.DOUBLE, "A", "LoRA alpha (default 16)."),
                MethodOption.of("--lora-dropout", "lora_dropout", MethodOption.Kind.DOUBLE, "P", "LoRA dropout (default 0)."),
                MethodOption.of("--lora-targets", "target_modules", MethodOption.Kind.LIST, "NAMES",
                        "LoRA target modules (default q_proj,v_proj; or all-linear).").withWords("all-linear"),
                MethodOption.of("--rslora", "use_rslora", MethodOption.Kind.FLAG, null, "Scale LoRA by alpha/sqrt(r)."),
                MethodOption.of("--dora", "use_dora", MethodOption.Kind.FLAG, null, "LoRA as DoRA (weight-decomposed: a trained magnitude per output row)."));
    }

    /** Several LoRA adapters may sit on one model (under different names): active ones add up, as in PEFT. */
    @Override public boolean stackable() { return true; }

    @Override
    public Adapter install(LoraConfig config, InstallContext ctx) {
        ModelShape m = ctx.model();
        List<LinearSite> sites = sites(config, m);
        String init = config.initName();
        if (!ctx.restoring() && !init.equals("true") && !init.equals("false") && !init.equals("gaussian")) {
            throw new UserException("LoRA config: init_lora_weights '" + config.initLoraWeights() + "' cannot start a fresh adapter here ("
                    + "it initialises from the base weights or data, which peft4j does not implement): train from true, false or \"gaussian\", "
                    + "or load an adapter that was initialised so");
        }
        List<Parameter> params = new ArrayList<>();
        List<LoraHook> hooks = new ArrayList<>();
        List<LinearSite> hookSites = new ArrayList<>();
        for (LinearSite site : sites) {
            int in = site.in(m), out = site.out(m);
            String path = site.hfModulePath();
            int r = rankOf(config, path);
            double scaling = config.scaling(r, alphaOf(config, path));
            String prefix = "base_model.model." + path;
            // true: nn.Linear's kaiming-uniform A, zero B; gaussian: A ~ N(0, 1/r²); false: both as nn.Linear's default
            ParamSpec.Init initA = init.equals("gaussian") ? ParamSpec.normal(1.0 / r) : ParamSpec.kaimingUniform(Math.sqrt(5));
            ParamSpec.Init initB = init.equals("false") ? ParamSpec.kaimingUniform(Math.sqrt(5)) : ParamSpec.zeros();
            Parameter a = ctx.trainable(new ParamSpec(prefix + ".lora_A.weight", new int[]{r, in}, initA));
            Parameter b = ctx.trainable(new ParamSpec(prefix + ".lora_B.weight", new int[]{out, r}, initB));
            params.add(a);
            params.add(b);
            Parameter magnitude = null;
            dev.peft4j.api.FrozenLinear w = null;
            if (config.useDora()) {
                // DoRA's magnitude starts as the row norms of the (unchanged) adapted weight, ||W + s·B·A||
                magnitude = ctx.trainable(new ParamSpec(prefix + ".lora_magnitude_vector", new int[]{out}, ParamSpec.zeros()));
                w = ctx.baseLinear(site); // stored type (BF16, Q8_0, ...): no float32 copy of W
                LoraHook.rowNorms(magnitude.data(), w, a.data(), b.data(), in, out, r, (float) scaling);
                params.add(magnitude);
            }
            LoraHook hook = new LoraHook(a, b, magnitude, w, in, out, r, scaling, config.loraDropout(), prefix.hashCode() * 0x9E3779B97F4A7C15L);
            ctx.addLinearHook(site, hook);
            hooks.add(hook);
            hookSites.add(site);
        }
        return new LoraAdapter(config, params, hooks, hookSites, ctx, m);
    }

    /** The rank of a module: rank_pattern's first key (in order) that matches the end of its path, else r. */
    static int rankOf(LoraConfig config, String modulePath) {
        String key = patternKey(config.rankPattern().keySet(), modulePath, "rank_pattern");
        return key == null ? config.r() : config.rankPattern().get(key);
    }

    /** The alpha of a module, as {@link #rankOf} with alpha_pattern. */
    static double alphaOf(LoraConfig config, String modulePath) {
        String key = patternKey(config.alphaPattern().keySet(), modulePath, "alpha_pattern");
        return key == null ? config.loraAlpha() : config.alphaPattern().get(key);
    }

    /** PEFT's get_pattern_key: the first key k with {@code re.match(r"(.*\.)?(k)$", path)}, or null. */
    private static String patternKey(Iterable<String> keys, String path, String field) {
        for (String k : keys) {
            if (compile("(.*\\.)?(" + k + ")$", field + " key '" + k + "'").matcher(path).lookingAt()) return k;
        }
        return null;
    }

    private static Pattern compile(String regex, String what) {
        try {
            return Pattern.compile(regex);
        } catch (PatternSyntaxException e) {
            throw new UserException("LoRA config: " + what + " is not a valid regular expression: " + e.getDescription());
        }
    }

    /**
     * The sites a config targets on a model, as PEFT's check_target_module_exists decides over LLaMA's module paths
     * ({@code model.layers.3.self_attn.q_proj}, {@code lm_head}): exclude_modules first; a string target is a regular
     * expression over the whole path (layers_to_transform does not apply to it); a list matches a path equal to or
     * ending in "." + an entry, then layers_to_transform keeps the layers whose index (the number after layers_pattern,
     * or after the path's second segment) it lists. Refuses targets that match nothing.
     */
    static List<LinearSite> sites(LoraConfig config, ModelShape m) {
        if (config.layersToTransform() != null) {
            for (int l : config.layersToTransform()) {
                if (l < 0 || l >= m.nLayers()) {
                    throw new UserException("LoRA config: layers_to_transform has layer " + l + " but the model has layers 0.." + (m.nLayers() - 1));
                }
            }
        }
        List<LinearSite> candidates = new ArrayList<>();
        for (int l = 0; l < m.nLayers(); l++) for (String n : LINEAR_NAMES) candidates.add(new LinearSite(l, LinearSite.Kind.ofHfName(n)));
        candidates.add(LinearSite.lmHead());
        List<LinearSite> out = new ArrayList<>();
        Object targets = config.targetModules();
        if (targets instanceof List<?> names && names.isEmpty()) throw new UserException("LoRA config: target_modules is empty");
        Pattern targetRegex = targets instanceof String s && !s.equals("all-linear") ? compile(s, "target_modules '" + s + "'") : null;
        for (LinearSite site : candidates) {
            String key = site.hfModulePath();
            if (excluded(config.excludeModules(), key)) continue;
            boolean found;
            if (targetRegex != null) {
                found = targetRegex.matcher(key).matches();
            } else {
                // "all-linear": every linear but the output layer, as PEFT expands it (then a list of names)
                List<String> names = targets instanceof List<?> list ? list.stream().map(String::valueOf).toList() : LINEAR_NAMES;
                found = names.stream().anyMatch(t -> key.equals(t) || key.endsWith("." + t));
                if (found && config.layersToTransform() != null && !config.layersToTransform().isEmpty()) {
                    Integer layer = layerIndex(config.layersPattern(), key);
                    found = layer != null && config.layersToTransform().contains(layer);
                }
            }
            if (found) out.add(site);
        }
        if (out.isEmpty()) {
            if (targets instanceof List<?> names) {
                for (Object o : names) {
                    String name = String.valueOf(o), leaf = name.substring(name.lastIndexOf('.') + 1);
                    if (LinearSite.Kind.ofHfName(leaf) == null) {
                        throw new UserException("LoRA config: unknown target module '" + name + "' (LLaMA has " + String.join(", ", LINEAR_NAMES) + ", lm_head)");
                    }
                }
            }
            throw new UserException("LoRA config: target_modules " + targets + " matches no linear layer of this model"
                    + (config.layersPattern() != null ? " (with layers_pattern " + config.layersPattern() + ")" : ""));
        }
        out.sort(java.util.Comparator.comparingInt((LinearSite s) -> s.kind() == LinearSite.Kind.LM_HEAD ? Integer.MAX_VALUE : s.layer())
                .thenComparing(LinearSite::kind));
        return out;
    }

    private static boolean excluded(Object exclude, String key) {
        if (exclude instanceof String s) return compile(s, "exclude_modules '" + s + "'").matcher(key).matches();
        if (exclude instanceof List<?> list) {
            for (Object o : list) if (key.equals(String.valueOf(o)) || key.endsWith("." + o)) return true;
        }
        return false;
    }

    /** The layer index in a module path, as PEFT finds it: the first number after layers_pattern (or after the second segment). */
    private static Integer layerIndex(Object layersPattern, String key) {
        List<String> patterns = layersPattern instanceof String s ? List.of(s)
                : layersPattern instanceof List<?> l ? l.stream().map(String::valueOf).toList() : List.of();
        if (patterns.isEmpty() || patterns.stream().allMatch(String::isEmpty)) {
            Matcher mt = Pattern.compile(".*?\\.[^.]*\\.(\\d+)\\.").matcher(key);
            return mt.lookingAt() ? Integer.valueOf(mt.group(1)) : null;
        }
        for (String p : patterns) {
            Matcher mt = compile("(?:^|.*?\\.)" + p + "\\.(\\d+)\\.", "layers_pattern '" + p + "'").matcher(key);
            if (mt.lookingAt()) return Integer.valueOf(mt.group(1));
        }
        return null;
    }

    /** An installed LoRA adapter: parameters, merge and unmerge. */
    private static final class LoraAdapter implements Adapter {
        private final LoraConfig config;
        private final List<Parameter> params;
        private final List<LoraHook> hooks;
        private final List<LinearSite> sites;
        private final InstallContext ctx;
        private final ModelShape model;
        private boolean merged;
        private final float[][] doraFactors;  // [site][out] DoRA's m / ‖W + s·B·A‖ at merge time, to unmerge

        LoraAdapter(LoraConfig config, List<Parameter> params, List<LoraHook> hooks, List<LinearSite> sites, InstallContext ctx, ModelShape model) {
            this.config = config;
            this.params = List.copyOf(params);
            this.hooks = hooks;
            this.sites = sites;
            this.ctx = ctx;
            this.model = model;
            this.doraFactors = new float[hooks.size()][];
        }

        @Override public PeftConfig config() { return config; }
        @Override public List<Parameter> parameters() { return params; }
        @Override public boolean canMerge() { return !(model.tiedEmbeddings() && sites.contains(LinearSite.lmHead())); }

        /** The low-rank form (one rank, one scaling, no dropout), or why this config has none. */
        @Override
        public List<DeviceForm> deviceForms() {
            if (config.loraDropout() > 0) {
                return List.of(new DeviceForm.Refused("LoRA with lora_dropout " + config.loraDropout() + " (the device step has no dropout; use 0)"));
            }
            if (config.useDora()) return List.of(new DeviceForm.Refused("LoRA as DoRA (use_dora; the device step has plain LoRA)"));
            if (!config.rankPattern().isEmpty() || !config.alphaPattern().isEmpty()) {
                return List.of(new DeviceForm.Refused("LoRA with rank_pattern or alpha_pattern (the device step has one rank and one scaling)"));
            }
            return List.of(new DeviceForm.LowRank(config.r(), config.scaling(), sites));
        }

        @Override
        public void merge() {
            if (merged) return;
            if (!canMerge()) throw new UserException("a LoRA on lm_head of a model with tied embeddings cannot be merged (it would change the embeddings too)");
            for (int i = 0; i < hooks.size(); i++) {
                LoraHook h = hooks.get(i);
                if (h.dora()) doraFactors[i] = h.mergeDora(ctx.baseWeight(sites.get(i)));
                else h.addTo(ctx.baseWeight(sites.get(i)), +1f);
                h.merged = true;
            }
            merged = true;
        }

        @Override
        public void unmerge() {
            if (!merged) return;
            for (int i = hooks.size() - 1; i >= 0; i--) {
                LoraHook h = hooks.get(i);
                if (h.dora()) h.unmergeDora(ctx.baseWeight(sites.get(i)), doraFactors[i]);
                else h.addTo(ctx.baseWeight(sites.get(i)), -1f);
                h.merged = false;
            }
            merged = false;
        }
    }
}
