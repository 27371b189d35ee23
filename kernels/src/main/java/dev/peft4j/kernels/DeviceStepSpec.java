package dev.peft4j.kernels;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;

/**
 * What a {@link DeviceBackend}'s training step is asked to run, by name: the model's shape and frozen base, and the
 * adapter forms it trains (each null when absent). Forms, not methods: a method declares which forms its adapter has
 * and the caller translates them, so no backend knows a method.
 *
 * @param shape    the model and micro-batch shape
 * @param normEps  RMSNorm's epsilon
 * @param invFreq  RoPE's inverse frequencies, [headDim / 2]
 * @param lowRank  {@code y += scaling · (x·Aᵀ)·Bᵀ} on linears of every layer and optionally on lm_head; null: none
 * @param prefix   key/value prefix rows per layer; null: none
 * @param prompt   a gated prompt attention from a layer on; null: none
 * @param base     the frozen float32 weights
 */
public record DeviceStepSpec(Shape shape, float normEps, double[] invFreq, LowRank lowRank, Prefix prefix, GatedPrompt prompt, Base base) {
    public DeviceStepSpec {
        Objects.requireNonNull(shape, "shape");
        Objects.requireNonNull(invFreq, "invFreq");
        Objects.requireNonNull(base, "base");
        if (invFreq.length != shape.dim() / shape.heads() / 2) {
            throw new IllegalArgumentException("invFreq has " + invFreq.length + " frequencies; head width " + shape.dim() / shape.heads() + " wants half that");
        }
        base.check(shape);
    }

    /** Model widths and the micro-batch of batch × seq tokens each {@link DeviceStep#forwardBackward} takes. */
    public record Shape(int dim, int layers, int heads, int kvHeads, int hidden, int vocab, int batch, int seq) {
        public Shape {
            if (dim <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || hidden <= 0 || vocab <= 0 || batch <= 0 || seq <= 0) {
                throw new IllegalArgumentException("every width of " + this + " must be positive");
            }
            if (dim % heads != 0 || heads % kvHeads != 0) throw new IllegalArgumentException(this + ": heads must divide dim and kvHeads heads");
        }

        /** Width of the key and value projections. */
        public int kvDim() { return dim / heads * kvHeads; }
    }

    /** The seven linears of a layer, as the step names them. */
    public enum Linear { Q, K, V, O, GATE, UP, DOWN }

    /** A low-rank update of one rank and scaling on {@code linears} of every layer and, when {@code head}, on lm_head. */
    public record LowRank(int rank, float scaling, Set<Linear> linears, boolean head) {
        public LowRank {
            if (rank <= 0) throw new IllegalArgumentException("rank must be positive, got " + rank);
            EnumSet<Linear> copy = EnumSet.noneOf(Linear.class);
            copy.addAll(linears);
            linears = Collections.unmodifiableSet(copy);
            if (linears.isEmpty() && !head) throw new IllegalArgumentException("a low-rank update on no linear");
        }
    }

    /** {@code rows} key/value rows per layer: a table ({@code mlpHidden} 0) or through a tanh MLP of that width. */
    public record Prefix(int rows, int mlpHidden) {
        public Prefix {
            if (rows <= 0 || mlpHidden < 0) throw new IllegalArgumentException("prefix of " + rows + " rows through an MLP of " + mlpHidden);
        }
    }

    /** A prompt of {@code length} rows in each layer from {@code firstLayer} on, gated per head. */
    public record GatedPrompt(int length, int firstLayer) {
        public GatedPrompt {
            if (length <= 0 || firstLayer < 0) throw new IllegalArgumentException("prompt of " + length + " rows from layer " + firstLayer);
        }
    }

    /**
     * The frozen base in float32, nn.Linear layout ([out][in]); per-layer arrays indexed by layer. {@code head} is the
     * classifier [vocab][dim] and must not be the embedding's array even when the two are tied (a device task takes an
     * array once).
     */
    public record Base(float[] embed, float[][] attnNorm, float[][] wq, float[][] wk, float[][] wv, float[][] wo,
                       float[][] ffnNorm, float[][] wGate, float[][] wUp, float[][] wDown, float[] finalNorm, float[] head) {
        void check(Shape s) {
            int d = s.dim(), kv = s.kvDim(), h = s.hidden();
            size("embed", embed, s.vocab() * d);
            size("finalNorm", finalNorm, d);
            size("head", head, s.vocab() * d);
            if (head == embed) throw new IllegalArgumentException("head must be its own array, not the embedding's");
            layers("attnNorm", attnNorm, s, d);
            layers("wq", wq, s, d * d);
            layers("wk", wk, s, kv * d);
            layers("wv", wv, s, kv * d);
            layers("wo", wo, s, d * d);
            layers("ffnNorm", ffnNorm, s, d);
            layers("wGate", wGate, s, h * d);
            layers("wUp", wUp, s, h * d);
            layers("wDown", wDown, s, d * h);
        }

        private static void layers(String name, float[][] a, Shape s, int each) {
            if (a == null || a.length != s.layers()) {
                throw new IllegalArgumentException(name + " has " + (a == null ? "no" : a.length) + " layers, the shape " + s.layers());
            }
            for (int l = 0; l < a.length; l++) size(name + "[" + l + "]", a[l], each);
        }

        private static void size(String name, float[] a, int n) {
            if (a == null || a.length != n) throw new IllegalArgumentException(name + " holds " + (a == null ? "nothing" : a.length + " floats") + ", the shape wants " + n);
        }
    }
}
