package dev.peft4j.prefix;

import dev.peft4j.api.Adapter;
import dev.peft4j.api.DeviceForm;
import dev.peft4j.api.MethodOption;
import dev.peft4j.api.InstallContext;
import dev.peft4j.api.KvPrefixHook;
import dev.peft4j.api.ModelShape;
import dev.peft4j.api.ParamSpec;
import dev.peft4j.api.Parameter;
import dev.peft4j.api.Pass;
import dev.peft4j.api.PeftConfig;
import dev.peft4j.api.PeftMethod;
import dev.peft4j.api.UserException;
import dev.peft4j.api.io.Safetensors;
import dev.peft4j.kernels.MatmulCpu;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Prefix tuning: Li and Liang, "Prefix-Tuning: Optimizing Continuous Prompts for Generation" (2021).
 *
 * <pre>
 *   every layer l:  K = [ Kp_l ; rope(x·Wkᵀ) ],  V = [ Vp_l ; x·Wvᵀ ]   (P prefix rows, used as they are)
 *                   queries come only from real tokens; real tokens' positions start at P
 *   table [P][L·2·kvDim]: row p = (K_0, V_0, K_1, V_1, ...) of virtual token p
 *   optional reparameterisation while training:  table = tanh(E·W1ᵀ + b1)·W2ᵀ + b2,  E [P][kvDim]
 * </pre>
 *
 * This is Hugging Face PEFT's convention for PREFIX_TUNING on LLaMA: the table is saved as
 * {@code prompt_embeddings}, the prefix is inserted as past keys/values (not rotated), and
 * positions continue after it. Init: N(0, 1) for the table or E (an embedding, as PEFT), nn.Linear
 * defaults for W1, W2 and the biases. A reparameterised prefix is saved folded into a plain table.
 */
public final class PrefixTuningMethod implements PeftMethod<PrefixTuningConfig> {
    @Override public String name() { return "prefix"; }
    @Override public String version() { return "1.0"; }
    @Override public String description() { return "prefix tuning: learnable key/value rows before every layer's attention"; }
    @Override public String peftType() { return "PREFIX_TUNING"; }
    @Override public Class<PrefixTuningConfig> configType() { return PrefixTuningConfig.class; }
    @Override public PrefixTuningConfig defaultConfig() { return PrefixTuningConfig.of(10); }

    @Override
    public List<MethodOption> options() {
        return List.of(
                MethodOption.of("--prefix-tokens", "num_virtual_tokens", MethodOption.Kind.INT, "N", "Prefix tuning: virtual tokens (default 10)."),
                MethodOption.of("--prefix-projection", "encoder_hidden_size", MethodOption.Kind.INT, "HIDDEN",
                        "Prefix tuning: train through an MLP of this width.").alsoSetting(java.util.Map.of("prefix_projection", true)));
    }

    @Override
    public Adapter install(PrefixTuningConfig config, InstallContext ctx) {
        ModelShape m = ctx.model();
        int L = m.nLayers(), kv = m.kvDim(), P = config.numVirtualTokens(), width = L * 2 * kv;
        check(config.tokenDim(), kv, "token_dim", "its key/value width");
        check(config.numLayers(), L, "num_layers", "its number of layers");
        check(config.numAttentionHeads(), m.nKvHeads(), "num_attention_heads", "its number of key/value heads");
        Table table = config.trainsProjection()
                ? new Projected(ctx, P, kv, width, config.encoderHiddenSize() == null ? kv : config.encoderHiddenSize(), L)
                : new Plain(ctx.trainable(new ParamSpec("prompt_embeddings", new int[]{P, width}, ParamSpec.normal(1.0))), L);
        for (int l = 0; l < L; l++) ctx.addKvPrefixHook(l, new LayerHook(table, l, P, kv, width));
        PrefixTuningConfig saved = new PrefixTuningConfig("PREFIX_TUNING", P, config.prefixProjection(), config.encoderHiddenSize(), kv, L,
                m.nKvHeads(), 1, config.taskType(), config.baseModelNameOrPath(), config.inferenceMode() || config.prefixProjection());
        return new Adapter() {
            @Override public PeftConfig config() { return saved; }
            @Override public List<Parameter> parameters() { return table.parameters(); }

            /** The rows as a table, or through the MLP of its width. */
            @Override public List<DeviceForm> deviceForms() {
                return List.of(new DeviceForm.KvPrefix(P, config.trainsProjection() ? (config.encoderHiddenSize() == null ? kv : config.encoderHiddenSize()) : 0));
            }

            @Override
            public List<Safetensors.Tensor> stateToSave() {
                return List.of(new Safetensors.Tensor("prompt_embeddings", new int[]{P, width}, table.values(true).clone()));
            }
        };
    }

    private static void check(Integer given, int model, String field, String what) {
        if (given != null && given != model) {
            throw new UserException("prefix tuning config: " + field + " " + given + " does not fit this model (" + what + " is " + model + ")");
        }
    }

    /** The [P][L·2·kvDim] table of prefix rows, shared by the layers' hooks. */
    private abstract static class Table {
        final float[] dTable;   // [P][width] gradient gathered from the layers of one backward
        final int layers;
        int reported;

        Table(int size, int layers) {
            this.dTable = new float[size];
            this.layers = layers;
        }

        abstract List<Parameter> parameters();

        /** The table; recomputed when {@code refresh} (at layer 0, the start of every forward). */
        abstract float[] values(boolean refresh);

        /** Called with the full dTable once every layer has reported. */
        abstract void backward();

        void report() {
            if (++reported == layers) {
                backward();
                Arrays.fill(dTable, 0f);
                reported = 0;
            }
        }
    }

    private static final class Plain extends Table {
        private final Parameter table;

        Plain(Parameter table, int layers) {
            super(0, layers);
            this.table = table;
        }

        @Override List<Parameter> parameters() { return List.of(table); }
        @Override float[] values(boolean refresh) { return table.data(); }
        @Override void backward() { }
        @Override void report() { } // gradients go straight into the parameter
        float[] grad() { return table.grad(); }
    }

    /** table = tanh(E·W1ᵀ + b1)·W2ᵀ + b2. */
    private static final class Projected extends Table {
        private final Parameter emb, w1, b1, w2, b2;
        private final int P, kv, width, enc;
        private final float[] act;   // [P][enc] tanh(E·W1ᵀ + b1)
        private final float[] out;   // [P][width]
        private final float[] dAct;  // [P][enc]

        Projected(InstallContext ctx, int P, int kv, int width, int enc, int layers) {
            super(P * width, layers);
            this.P = P;
            this.kv = kv;
            this.width = width;
            this.enc = enc;
            emb = ctx.trainable(new ParamSpec("prompt_encoder.embedding.weight", new int[]{P, kv}, ParamSpec.normal(1.0)));
            w1 = ctx.trainable(new ParamSpec("prompt_encoder.transform.0.weight", new int[]{enc, kv}, ParamSpec.kaimingUniform(Math.sqrt(5))));
            b1 = ctx.trainable(new ParamSpec("prompt_encoder.transform.0.bias", new int[]{enc}, new ParamSpec.Init.Uniform(1 / Math.sqrt(kv))));
            w2 = ctx.trainable(new ParamSpec("prompt_encoder.transform.2.weight", new int[]{width, enc}, ParamSpec.kaimingUniform(Math.sqrt(5))));
            b2 = ctx.trainable(new ParamSpec("prompt_encoder.transform.2.bias", new int[]{width}, new ParamSpec.Init.Uniform(1 / Math.sqrt(enc))));
            act = new float[P * enc];
            out = new float[P * width];
            dAct = new float[P * enc];
        }

        @Override List<Parameter> parameters() { return List.of(emb, w1, b1, w2, b2); }

        @Override
        float[] values(boolean refresh) {
            if (refresh) {
                MatmulCpu.forward(act, 0, emb.data(), 0, w1.data(), 0, P, kv, enc);
                for (int p = 0; p < P; p++) for (int e = 0; e < enc; e++) act[p * enc + e] = (float) Math.tanh(act[p * enc + e] + b1.data()[e]);
                MatmulCpu.forward(out, 0, act, 0, w2.data(), 0, P, enc, width);
                for (int p = 0; p < P; p++) for (int j = 0; j < width; j++) out[p * width + j] += b2.data()[j];
            }
            return out;
        }

        @Override
        void backward() {
            MatmulCpu.backwardWeight(w2.grad(), 0, dTable, 0, act, 0, P, enc, width);
            for (int p = 0; p < P; p++) for (int j = 0; j < width; j++) b2.grad()[j] += dTable[p * width + j];
            Arrays.fill(dAct, 0f);
            MatmulCpu.backwardInput(dAct, 0, dTable, 0, w2.data(), 0, P, enc, width);
            for (int i = 0; i < P * enc; i++) dAct[i] *= 1 - act[i] * act[i];
            MatmulCpu.backwardWeight(w1.grad(), 0, dAct, 0, emb.data(), 0, P, kv, enc);
            for (int p = 0; p < P; p++) for (int e = 0; e < enc; e++) b1.grad()[e] += dAct[p * enc + e];
            MatmulCpu.backwardInput(emb.grad(), 0, dAct, 0, w1.data(), 0, P, kv, enc);
        }
    }

    /** One layer's slice of the table. */
    private record LayerHook(Table table, int layer, int rows, int kv, int width) implements KvPrefixHook {
        @Override
        public int rows() {
            return rows;
        }

        @Override
        public void keysValues(float[] k, float[] v, Pass pass) {
            float[] t = table.values(layer == 0);
            for (int p = 0; p < rows; p++) {
                System.arraycopy(t, p * width + 2 * layer * kv, k, p * kv, kv);
                System.arraycopy(t, p * width + (2 * layer + 1) * kv, v, p * kv, kv);
            }
        }

        @Override
        public void backward(float[] dk, float[] dv) {
            float[] g = table instanceof Plain plain ? plain.grad() : table.dTable;
            for (int p = 0; p < rows; p++) {
                int ko = p * width + 2 * layer * kv, vo = p * width + (2 * layer + 1) * kv;
                for (int j = 0; j < kv; j++) {
                    g[ko + j] += dk[p * kv + j];
                    g[vo + j] += dv[p * kv + j];
                }
            }
            table.report();
        }
    }
}
