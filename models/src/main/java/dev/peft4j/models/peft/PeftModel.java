package dev.peft4j.models.peft;

import dev.peft4j.api.Adapter;
import dev.peft4j.api.GatedAttentionHook;
import dev.peft4j.api.InstallContext;
import dev.peft4j.api.KvPrefixHook;
import dev.peft4j.api.LinearHook;
import dev.peft4j.api.LinearSite;
import dev.peft4j.api.ModelShape;
import dev.peft4j.api.ParamSpec;
import dev.peft4j.api.Parameter;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.PeftMethod;
import dev.peft4j.api.UserException;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaModel;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.train.LlamaTrainer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * A base model with PEFT methods installed on it: the implementation of the SPI's install
 * context. Methods at different sites are independent and hooks at one site add up, so any set of
 * methods composes; two instances of a method that does not stack are refused.
 */
public final class PeftModel {
    private final LlamaWeights base;
    private final Hooks hooks;
    private final long seed;
    private final Map<String, Installed> adapters = new LinkedHashMap<>();
    private final Set<String> trainableBase = new HashSet<>();
    private final List<Parameter> baseParameters = new ArrayList<>();

    /** One installed adapter: its method, its handle and its hooks' owner. */
    public record Installed(String name, PeftMethod<?> method, Adapter adapter, Hooks.Owner owner) {
        public boolean active() {
            return owner.active();
        }
    }

    public PeftModel(LlamaWeights base, long seed) {
        this.base = base;
        this.seed = seed;
        this.hooks = new Hooks(base.config.nLayers());
    }

    public LlamaWeights base() {
        return base;
    }

    public Hooks hooks() {
        return hooks;
    }

    public static ModelShape shape(LlamaConfig c) {
        return new ModelShape(c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.vocabSize(), c.maxSeqLen(), c.tiedEmbeddings());
    }

    /**
     * Installs a method under an adapter name (several adapters of a stackable method need distinct
     * names). Refuses a second instance of a method that does not stack.
     */
    public <C extends PeftConfig> Installed install(String adapterName, PeftMethod<C> method, C config) {
        return install(adapterName, method, config, false);
    }

    /**
     * Installs a method whose trainable values the caller then loads from saved weights ({@link AdapterFiles}): the
     * method is told it is {@linkplain InstallContext#restoring() restoring}, so a fresh-init rule it cannot run
     * (e.g. LoRA's "pissa") does not stop it.
     */
    public <C extends PeftConfig> Installed restore(String adapterName, PeftMethod<C> method, C config) {
        return install(adapterName, method, config, true);
    }

    private <C extends PeftConfig> Installed install(String adapterName, PeftMethod<C> method, C config, boolean restoring) {
        if (adapters.containsKey(adapterName)) throw new UserException("an adapter named '" + adapterName + "' is already installed");
        if (!adapters.isEmpty() && (method.exclusive() || adapters.values().stream().anyMatch(i -> i.method().exclusive()))) {
            String other = adapters.values().iterator().next().method().name();
            throw new UserException("method '" + (method.exclusive() ? method.name() : other) + "' runs alone: it cannot be combined with '"
                    + (method.exclusive() ? other : method.name()) + "'");
        }
        if (!method.stackable()) {
            for (Installed i : adapters.values()) {
                if (i.method().name().equals(method.name())) {
                    throw new UserException("method '" + method.name() + "' is already installed (as adapter '" + i.name()
                            + "') and cannot be stacked twice on one model");
                }
            }
        }
        Hooks.Owner owner = new Hooks.Owner();
        Context ctx = new Context(adapterName, owner, restoring);
        Adapter adapter;
        try {
            adapter = method.install(config, ctx);
        } catch (RuntimeException e) {
            hooks.remove(owner);
            trainableBase.removeAll(ctx.baseTensors);
            baseParameters.removeIf(p -> ctx.baseTensors.contains(p.name()));
            throw e;
        }
        Installed installed = new Installed(adapterName, method, adapter, owner);
        adapters.put(adapterName, installed);
        return installed;
    }

    public <C extends PeftConfig> Installed install(PeftMethod<C> method, C config) {
        return install(method.name(), method, config);
    }

    /** Removes an adapter and its hooks. */
    public void unload(String adapterName) {
        Installed i = adapters.remove(adapterName);
        if (i == null) throw new UserException("no adapter named '" + adapterName + "' is installed");
        hooks.remove(i.owner());
    }

    /** Switches an adapter's hooks on or off (e.g. to choose the active one of several). */
    public void setActive(String adapterName, boolean active) {
        Installed i = adapters.get(adapterName);
        if (i == null) throw new UserException("no adapter named '" + adapterName + "' is installed");
        i.owner().setActive(active);
    }

    public Map<String, Installed> adapters() {
        return Collections.unmodifiableMap(adapters);
    }

    /** Every trainable parameter: the active adapters', then base tensors made trainable. */
    public List<Parameter> trainableParameters() {
        List<Parameter> out = new ArrayList<>();
        for (Installed i : adapters.values()) if (i.active()) out.addAll(i.adapter().parameters());
        return out;
    }

    /** The inference model with every active adapter's hooks. */
    public LlamaModel inferenceModel() {
        return new LlamaModel(base, hooks);
    }

    /** A trainer over the base model with the adapters' hooks; gradients go to {@link #trainableParameters()}. */
    public LlamaTrainer trainer(int batchSize, int seqLen, boolean recompute) {
        return new LlamaTrainer(base, hooks, batchSize, seqLen, recompute, seed, List.copyOf(baseParameters));
    }

    /** The install context of one adapter. */
    private final class Context implements InstallContext {
        private final String adapterName;
        private final Hooks.Owner owner;
        private final Set<String> baseTensors = new HashSet<>();
        private final Map<String, LlamaWeights.Tensor> byName = new LinkedHashMap<>();
        private final boolean restoring;

        Context(String adapterName, Hooks.Owner owner, boolean restoring) {
            this.adapterName = adapterName;
            this.owner = owner;
            this.restoring = restoring;
            for (LlamaWeights.Tensor t : base.tensors()) byName.put(t.name(), t);
        }

        @Override
        public ModelShape model() {
            return shape(base.config);
        }

        @Override
        public Parameter trainable(ParamSpec spec) {
            float[] data = new float[spec.size()];
            SplittableRandom r = random("init:" + spec.name());
            int[] shape = spec.shape();
            switch (spec.init()) {
                case ParamSpec.Init.Zeros z -> { }
                case ParamSpec.Init.Constant k -> java.util.Arrays.fill(data, k.value());
                case ParamSpec.Init.Normal nrm -> { for (int i = 0; i < data.length; i++) data[i] = (float) (r.nextGaussian() * nrm.std()); }
                case ParamSpec.Init.Uniform u -> { for (int i = 0; i < data.length; i++) data[i] = (float) ((2 * r.nextDouble() - 1) * u.bound()); }
                case ParamSpec.Init.KaimingUniform ku -> {
                    int fanIn = shape[shape.length - 1];
                    double bound = Math.sqrt(6.0 / ((1 + ku.a() * ku.a()) * fanIn));
                    for (int i = 0; i < data.length; i++) data[i] = (float) ((2 * r.nextDouble() - 1) * bound);
                }
            }
            return new Parameter(spec.name(), shape, data);
        }

        @Override
        public Parameter trainBaseTensor(String hfName) {
            LlamaWeights.Tensor t = byName.get(hfName);
            if (t == null) throw new UserException("the base model has no tensor named '" + hfName + "'");
            if (!trainableBase.add(hfName)) throw new UserException("base tensor " + hfName + " is already trainable");
            baseTensors.add(hfName);
            Parameter p = new Parameter(hfName, t.shape(), base.toFloat32(hfName)); // a float32 master weight
            baseParameters.add(p);
            return p;
        }

        @Override
        public List<String> baseTensorNames() {
            return List.copyOf(byName.keySet());
        }

        @Override
        public float[] baseWeight(LinearSite site) {
            // float32 from here on (a merge writes float32 values into it)
            return base.toFloat32(site.kind() == LinearSite.Kind.LM_HEAD && base.config.tiedEmbeddings()
                    ? "model.embed_tokens.weight" : site.hfModulePath() + ".weight");
        }

        @Override
        public dev.peft4j.api.FrozenLinear baseLinear(LinearSite site) {
            String name = site.kind() == LinearSite.Kind.LM_HEAD && base.config.tiedEmbeddings()
                    ? "model.embed_tokens.weight" : site.hfModulePath() + ".weight";
            dev.peft4j.kernels.WeightMatrix first = base.weight(name); // refuses a site the model lacks
            int in = first.cols(), out = first.rows();
            return new dev.peft4j.api.FrozenLinear() {
                // looked up on each call: the tensor may be replaced later (made trainable, so float32, by another method)
                private dev.peft4j.kernels.WeightMatrix w() {
                    return base.matrix(site);
                }

                @Override public int in() { return in; }
                @Override public int out() { return out; }

                @Override
                public void forward(float[] y, int yOff, float[] x, int xOff, int n) {
                    dev.peft4j.kernels.FrozenMatmulCpu.forward(y, yOff, x, xOff, w(), n);
                }

                @Override
                public void backwardInput(float[] dx, int dxOff, float[] dy, int dyOff, int n) {
                    dev.peft4j.kernels.FrozenMatmulCpu.backwardInput(dx, dxOff, dy, dyOff, w(), n);
                }

                @Override
                public void decodeRows(int r0, int r1, float[] dst, int dstOff) {
                    w().decode(r0, r1, 0, in, dst, dstOff, in);
                }
            };
        }

        @Override
        public void addLinearHook(LinearSite site, LinearHook hook) {
            hooks.addLinear(site, hook, owner);
        }

        @Override
        public void addLinearInputHook(LinearSite site, dev.peft4j.api.LinearMapHook hook) {
            hooks.addInputMap(site, hook, owner);
        }

        @Override
        public void addLinearOutputHook(LinearSite site, dev.peft4j.api.LinearMapHook hook) {
            hooks.addOutputMap(site, hook, owner);
        }

        @Override
        public void addKvPrefixHook(int layer, KvPrefixHook hook) {
            hooks.addKvPrefix(layer, hook, owner);
        }

        @Override
        public void addGatedAttentionHook(int layer, GatedAttentionHook hook) {
            hooks.addGated(layer, hook, owner);
        }

        @Override
        public boolean restoring() {
            return restoring;
        }

        @Override
        public SplittableRandom random(String purpose) {
            long h = seed;
            for (char ch : (adapterName + "/" + purpose).toCharArray()) h = h * 0x100000001B3L ^ ch;
            return new SplittableRandom(h);
        }
    }
}
