package dev.peft4j.cli;

import dev.peft4j.api.DeviceForm;
import dev.peft4j.api.LinearSite;
import dev.peft4j.kernels.DeviceStep;
import dev.peft4j.kernels.DeviceStepSpec;
import dev.peft4j.kernels.quant.GgmlType;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaModel;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.peft.PeftModel;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * The TornadoVM training step for a {@link PeftModel}, driven by what the installed adapters declare
 * ({@link dev.peft4j.api.Adapter#deviceForms()}): this class knows the step's forms, never a method. The step has
 * {@link #STEP_FORMS}, one adapter of each: a low-rank update on any of the seven linears of every layer and on
 * lm_head, key/value prefix rows (a table or through its MLP) and a gated prompt attention with a gate per head,
 * over a float32 base. Anything else is refused here, naming the method and the reason, before anything is uploaded;
 * {@code --device auto} then trains on the CPU and says why.
 */
final class DeviceTraining {
    /** The forms the device step has kernels for, one adapter each. */
    static final Set<Class<? extends DeviceForm>> STEP_FORMS = Set.of(DeviceForm.LowRank.class, DeviceForm.KvPrefix.class, DeviceForm.GatedPrompt.class);

    private DeviceTraining() {}

    /**
     * The device {@code --device} asks for this model (empty: the CPU). With {@code auto} the composition is checked
     * first: one the step cannot run trains on the CPU, saying why on {@code out} (null: quietly), whether or not
     * TornadoVM is there; then {@link TornadoDevice#choose} (whose auto also falls back, saying why). With
     * {@code tornado[:N]}, TornadoVM must be there, and {@link #open} refuses the composition before any upload.
     */
    static Optional<TornadoDevice> choose(String spec, PeftModel peft, PrintWriter out) {
        String why = spec.equals("auto") ? unsupported(peft) : null;
        if (why != null) {
            if (out != null) out.println("device: auto -> cpu (" + why + " has no device form)");
            return Optional.empty();
        }
        return TornadoDevice.choose(spec, out);
    }

    /** Why this model's adapters cannot train on the device step, or null when they can. */
    static String unsupported(PeftModel peft) {
        Set<GgmlType> types = peft.base().storedTypes();
        types.remove(GgmlType.F32);
        if (!types.isEmpty()) {
            return "a base stored as " + types + " (the device step reads float32 weights only: load with --base-dtype f32)";
        }
        Map<Class<?>, List<String>> users = new LinkedHashMap<>();
        for (PeftModel.Installed i : peft.adapters().values()) {
            if (!i.active()) continue;
            List<DeviceForm> forms = i.adapter().deviceForms();
            String method = "method '" + i.method().name() + "'";
            if (forms.isEmpty()) {
                return method + " (its hooks run on the CPU only: it declares none of the device step's forms, " + STEP_FORM_NAMES + ")";
            }
            for (DeviceForm f : forms) {
                if (f instanceof DeviceForm.Refused r) return r.why();
                if (!STEP_FORMS.contains(f.getClass())) return method + " (" + f.what() + ": the device step has no kernels for it)";
                if (f instanceof DeviceForm.LowRank lr) {
                    String partial = someLayersOnly(lr, peft.base().config.nLayers());
                    if (partial != null) return method + " (" + f.what() + " " + partial + ")";
                }
                users.computeIfAbsent(f.getClass(), k -> new ArrayList<>()).add(i.name());
            }
        }
        for (Map.Entry<Class<?>, List<String>> e : users.entrySet()) {
            if (e.getValue().size() > 1) {
                return "several adapters of one form at once (" + String.join(", ", e.getValue()) + ": the device step trains one of each form)";
            }
        }
        return null;
    }

    /**
     * Null when the update adapts the same linears in every layer (the device step's packing), otherwise what it does
     * instead: "on q_proj of layers [1] only (the device step adapts a linear in all 4 layers or none)".
     */
    static String someLayersOnly(DeviceForm.LowRank lr, int layers) {
        Map<LinearSite.Kind, TreeSet<Integer>> byKind = new java.util.EnumMap<>(LinearSite.Kind.class);
        for (LinearSite s : lr.sites()) if (s.kind() != LinearSite.Kind.LM_HEAD) byKind.computeIfAbsent(s.kind(), k -> new TreeSet<>()).add(s.layer());
        for (Map.Entry<LinearSite.Kind, TreeSet<Integer>> e : byKind.entrySet()) {
            if (e.getValue().size() != layers) {
                return "on " + e.getKey().hfName() + " of layers " + e.getValue() + " only (the device step adapts a linear in all " + layers
                        + " layers or none)";
            }
        }
        return null;
    }

    private static final String STEP_FORM_NAMES = "a low-rank linear update, key/value prefix rows or a gated prompt attention";

    /**
     * Opens the device step for training this model on micro-batches of batch × seq tokens; the caller hands it
     * to {@link dev.peft4j.models.train.TrainingRun#onDevice}, which checks that it holds exactly the model's
     * trainable parameters and writes their values. What the step cannot run is refused first ({@link #unsupported}).
     */
    static DeviceStep open(TornadoDevice device, PeftModel peft, int batch, int seq) {
        String why = unsupported(peft);
        if (why != null) throw new dev.peft4j.api.UserException("--device: " + why + " has no device form; use --device cpu");
        LlamaWeights base = peft.base();
        LlamaConfig c = base.config;
        DeviceStepSpec.LowRank lowRank = null;
        DeviceStepSpec.Prefix prefix = null;
        DeviceStepSpec.GatedPrompt prompt = null;
        for (PeftModel.Installed i : peft.adapters().values()) {
            if (!i.active()) continue;
            for (DeviceForm f : i.adapter().deviceForms()) {
                switch (f) {
                    case DeviceForm.LowRank lr -> {
                        EnumSet<DeviceStepSpec.Linear> linears = EnumSet.noneOf(DeviceStepSpec.Linear.class);
                        boolean head = false;
                        for (LinearSite s : lr.sites()) {
                            if (s.kind() == LinearSite.Kind.LM_HEAD) head = true;
                            else linears.add(DeviceStepSpec.Linear.valueOf(s.kind().name()));
                        }
                        lowRank = new DeviceStepSpec.LowRank(lr.rank(), (float) lr.scaling(), linears, head);
                    }
                    case DeviceForm.KvPrefix kp -> prefix = new DeviceStepSpec.Prefix(kp.rows(), kp.mlpHidden());
                    case DeviceForm.GatedPrompt gp -> prompt = new DeviceStepSpec.GatedPrompt(gp.length(), gp.firstLayer());
                    case DeviceForm.Refused r -> throw new IllegalStateException(r.why()); // refused above
                }
            }
        }
        var shape = new DeviceStepSpec.Shape(c.dim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.hiddenDim(), c.vocabSize(), batch, seq);
        float[] head = base.classifier == base.tokenEmbedding ? base.classifier.f32().clone() : base.classifier.f32(); // an array once per task
        var weights = new DeviceStepSpec.Base(base.tokenEmbedding.f32(), base.attnNorm, LlamaWeights.f32(base.wq), LlamaWeights.f32(base.wk),
                LlamaWeights.f32(base.wv), LlamaWeights.f32(base.wo), base.ffnNorm, LlamaWeights.f32(base.wGate), LlamaWeights.f32(base.wUp),
                LlamaWeights.f32(base.wDown), base.finalNorm, head);
        return device.openTrainer(new DeviceStepSpec(shape, c.normEps(), LlamaModel.inverseFrequencies(c), lowRank, prefix, prompt, weights));
    }
}
