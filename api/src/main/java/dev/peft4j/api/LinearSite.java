package dev.peft4j.api;

/**
 * A linear layer of the model where a {@link LinearHook} can attach: layer i's Q, K, V, O, GATE,
 * UP or DOWN projection, or the LM_HEAD (layer -1).
 */
public record LinearSite(int layer, Kind kind) {
    /** The projections, with their Hugging Face module names. */
    public enum Kind {
        Q("q_proj"), K("k_proj"), V("v_proj"), O("o_proj"), GATE("gate_proj"), UP("up_proj"), DOWN("down_proj"), LM_HEAD("lm_head");

        private final String hfName;

        Kind(String hfName) { this.hfName = hfName; }

        public String hfName() { return hfName; }

        /** The kind with this Hugging Face module name, or null. */
        public static Kind ofHfName(String name) {
            for (Kind k : values()) if (k.hfName.equals(name)) return k;
            return null;
        }
    }

    public LinearSite {
        if ((kind == Kind.LM_HEAD) != (layer < 0)) throw new IllegalArgumentException("LM_HEAD has layer -1, the others a layer >= 0: " + layer + " " + kind);
    }

    public static LinearSite lmHead() { return new LinearSite(-1, Kind.LM_HEAD); }

    public int in(ModelShape m) {
        return switch (kind) {
            case Q, K, V, GATE, UP, LM_HEAD -> m.dim();
            case O -> m.nHeads() * m.headDim();
            case DOWN -> m.hiddenDim();
        };
    }

    public int out(ModelShape m) {
        return switch (kind) {
            case Q, O, DOWN -> m.dim();
            case K, V -> m.kvDim();
            case GATE, UP -> m.hiddenDim();
            case LM_HEAD -> m.vocabSize();
        };
    }

    /** The module path Hugging Face uses, e.g. {@code model.layers.3.self_attn.q_proj} or {@code lm_head}. */
    public String hfModulePath() {
        return switch (kind) {
            case Q, K, V, O -> "model.layers." + layer + ".self_attn." + kind.hfName();
            case GATE, UP, DOWN -> "model.layers." + layer + ".mlp." + kind.hfName();
            case LM_HEAD -> "lm_head";
        };
    }
}
