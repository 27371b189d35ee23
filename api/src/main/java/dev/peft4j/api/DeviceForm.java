package dev.peft4j.api;

import java.util.List;

/**
 * What an installed adapter computes, in forms that a backend running its own fused training step (the TornadoVM
 * step, which does not call the hooks) may implement. A method declares its adapter's forms
 * ({@link Adapter#deviceForms()}), or why it has none ({@link Refused}); such a backend runs the forms it has and
 * refuses the rest before anything is uploaded, naming the method. No backend names a method: it knows forms.
 * A method that declares nothing runs on the CPU backend only (which calls the hooks), and is refused by name.
 */
public sealed interface DeviceForm {
    /** What the form is, for a refusal: "a low-rank linear update", ... */
    String what();

    /**
     * {@code y += scaling · (x·Aᵀ)·Bᵀ} at each site, one rank and one scaling, no dropout (LoRA's form): the
     * parameters are {@code base_model.model.<site's module path>.lora_A.weight} [rank][in] and {@code ...lora_B.weight}
     * [out][rank], Hugging Face PEFT's names, which a backend's step trains under those names.
     */
    record LowRank(int rank, double scaling, List<LinearSite> sites) implements DeviceForm {
        public LowRank {
            sites = List.copyOf(sites);
        }

        @Override public String what() { return "a low-rank linear update"; }
    }

    /**
     * {@code rows} key/value rows per layer before the shared causal softmax, not rotated: a table
     * {@code prompt_embeddings} [rows][layers·2·kvDim] ({@code mlpHidden} 0), or through a two-layer tanh MLP of
     * width {@code mlpHidden} ({@code prompt_encoder.*}) (prefix tuning's forms).
     */
    record KvPrefix(int rows, int mlpHidden) implements DeviceForm {
        @Override public String what() { return "key/value prefix rows"; }
    }

    /**
     * A separate softmax over a learned prompt of {@code length} rows in each layer from {@code firstLayer} on, through
     * the layer's frozen k/v projections, gated per head and added to the attention output (LLaMA-Adapter's form):
     * {@code ...layers.L.self_attn.adaption_prompt} [1][length][dim] and {@code ...adaption_gate} [nHeads].
     */
    record GatedPrompt(int length, int firstLayer) implements DeviceForm {
        @Override public String what() { return "a gated prompt attention"; }
    }

    /** The adapter has no device form, and why, in the method's words, naming it: "LoRA with lora_dropout 0.1 (...)". */
    record Refused(String why) implements DeviceForm {
        @Override public String what() { return why; }
    }
}
