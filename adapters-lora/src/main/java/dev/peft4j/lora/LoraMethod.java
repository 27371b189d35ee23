package dev.peft4j.lora;

import dev.peft4j.api.Adapter;
import dev.peft4j.api.InstallContext;
import dev.peft4j.api.LinearSite;
import dev.peft4j.api.ModelShape;
import dev.peft4j.api.ParamSpec;
import dev.peft4j.api.Parameter;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.PeftMethod;
import dev.peft4j.api.UserException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
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

    /** Several LoRA adapters may sit on one model (under different names): active ones add up, as in PEFT. */
    @Override public boolean stackable() { return true; }

    @Override
    public Adapter install(LoraConfig config, InstallContext ctx) {
        ModelShape m = ctx.model();
        List<LinearSite> sites = sites(config, m);
        List<Parameter> params = new ArrayList<>();
        List<LoraHook> hooks = new ArrayList<>();
        List<LinearSite> hookSites = new ArrayList<>();
        int r = config.r();
        for (LinearSite site : sites) {
            int in = site.in(m), out = site.out(m);
            String prefix = "base_model.model." + site.hfModulePath();
            ParamSpec.Init initA = config.gaussianInit() ? ParamSpec.normal(1.0 / r) : ParamSpec.kaimingUniform(Math.sqrt(5));
            Parameter a = ctx.trainable(new ParamSpec(prefix + ".lora_A.weight", new int[]{r, in}, initA));
            Parameter b = ctx.trainable(new ParamSpec(prefix + ".lora_B.weight", new int[]{out, r}, ParamSpec.zeros()));
            params.add(a);
            params.add(b);
            LoraHook hook = new LoraHook(a, b, in, out, r, config.scaling(), config.loraDropout(), prefix.hashCode() * 0x9E3779B97F4A7C15L);
            ctx.addLinearHook(site, hook);
            hooks.add(hook);
            hookSites.add(site);
        }
        return new LoraAdapter(config, params, hooks, hookSites, ctx, m);
    }

    /** The sites a config targets on a model; refuses targets that do not exist. */
    static List<LinearSite> sites(LoraConfig config, ModelShape m) {
        Set<Integer> layers = new LinkedHashSet<>();
        if (config.layersToTransform() == null) {
            for (int l = 0; l < m.nLayers(); l++) layers.add(l);
        } else {
            for (int l : config.layersToTransform()) {
                if (l < 0 || l >= m.nLayers()) {
                    throw new UserException("LoRA config: layers_to_transform has layer " + l + " but the model has layers 0.." + (m.nLayers() - 1));
                }
                layers.add(l);
            }
        }
        List<LinearSite> out = new ArrayList<>();
        if (config.targetModules() instanceof List<?> names) {
            if (names.isEmpty()) throw new UserException("LoRA config: target_modules is empty");
            for (Object o : names) {
                String name = String.valueOf(o);
                // PEFT also accepts a module path suffix such as "self_attn.q_proj"
                String leaf = name.substring(name.lastIndexOf('.') + 1);
                LinearSite.Kind kind = LinearSite.Kind.ofHfName(leaf);
                if (kind == null) {
                    throw new UserException("LoRA config: unknown target module '" + name + "' (LLaMA has " + String.join(", ", LINEAR_NAMES) + ", lm_head)");
                }
            }
            for (LinearSite.Kind kind : LinearSite.Kind.values()) {
                boolean wanted = names.stream().map(String::valueOf).anyMatch(n -> n.substring(n.lastIndexOf('.') + 1).equals(kind.hfName()));
                if (!wanted) continue;
                if (kind == LinearSite.Kind.LM_HEAD) out.add(LinearSite.lmHead());
                else for (int l : layers) out.add(new LinearSite(l, kind));
            }
        } else {
            String spec = (String) config.targetModules();
            if (spec.equals("all-linear")) {
                for (int l : layers) for (String n : LINEAR_NAMES) out.add(new LinearSite(l, LinearSite.Kind.ofHfName(n)));
            } else {
                Pattern p;
                try {
                    p = Pattern.compile(spec);
                } catch (PatternSyntaxException e) {
                    throw new UserException("LoRA config: target_modules '" + spec + "' is not a valid regular expression: " + e.getDescription());
                }
                for (int l : layers) {
                    for (String n : LINEAR_NAMES) {
                        LinearSite s = new LinearSite(l, LinearSite.Kind.ofHfName(n));
                        if (p.matcher(s.hfModulePath()).matches()) out.add(s);
                    }
                }
                if (p.matcher("lm_head").matches()) out.add(LinearSite.lmHead());
            }
        }
        if (out.isEmpty()) throw new UserException("LoRA config: target_modules " + config.targetModules() + " matches no linear layer of this model");
        out.sort(java.util.Comparator.comparingInt((LinearSite s) -> s.kind() == LinearSite.Kind.LM_HEAD ? Integer.MAX_VALUE : s.layer())
                .thenComparing(LinearSite::kind));
        return out;
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

        LoraAdapter(LoraConfig config, List<Parameter> params, List<LoraHook> hooks, List<LinearSite> sites, InstallContext ctx, ModelShape model) {
            this.config = config;
            this.params = List.copyOf(params);
            this.hooks = hooks;
            this.sites = sites;
            this.ctx = ctx;
            this.model = model;
        }

        @Override public PeftConfig config() { return config; }
        @Override public List<Parameter> parameters() { return params; }
        @Override public boolean canMerge() { return !(model.tiedEmbeddings() && sites.contains(LinearSite.lmHead())); }

        @Override
        public void merge() {
            if (merged) return;
            if (!canMerge()) throw new UserException("a LoRA on lm_head of a model with tied embeddings cannot be merged (it would change the embeddings too)");
            for (int i = 0; i < hooks.size(); i++) {
                hooks.get(i).addTo(ctx.baseWeight(sites.get(i)), +1f);
                hooks.get(i).merged = true;
            }
            merged = true;
        }

        @Override
        public void unmerge() {
            if (!merged) return;
            for (int i = 0; i < hooks.size(); i++) {
                hooks.get(i).addTo(ctx.baseWeight(sites.get(i)), -1f);
                hooks.get(i).merged = false;
            }
            merged = false;
        }
    }
}
