package dev.peft4j.ia3;

import dev.peft4j.api.Adapter;
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

/**
 * IA³: Liu et al., "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than In-Context Learning" (2022).
 * Learned vectors rescale activations: the keys and values (outputs of k_proj, v_proj) and the feed-forward's inner
 * activation (the input of down_proj), as Hugging Face PEFT's {@code IA3}.
 *
 * <pre>
 *   k = (x·Wkᵀ) ⊙ l_k        v = (x·Wvᵀ) ⊙ l_v        y = (h ⊙ l_ff)·Wdownᵀ
 * </pre>
 *
 * Init: every l = 1 (the model is unchanged at the start). Saved as PEFT saves it:
 * {@code base_model.model.model.layers.0.self_attn.k_proj.ia3_l} [out][1], and [1][in] for feed-forward modules.
 *
 * <p>This plugin exists only in peft4j's test code: it is compiled and packaged as a jar by the tests, and loaded
 * with {@code --plugins DIR}, to show that a method outside the project runs through the SPI alone.
 */
public final class Ia3Method implements PeftMethod<Ia3Config> {
    @Override public String name() { return "ia3"; }
    @Override public String version() { return "1.0"; }
    @Override public String description() { return "IA3: learned vectors scaling k_proj, v_proj outputs and down_proj inputs"; }
    @Override public String peftType() { return "IA3"; }
    @Override public Class<Ia3Config> configType() { return Ia3Config.class; }
    @Override public Ia3Config defaultConfig() { return Ia3Config.defaults(); }

    /** Its flags on the command line, which the CLI learns from here. */
    @Override
    public List<MethodOption> options() {
        return List.of(
                MethodOption.of("--ia3-targets", "target_modules", MethodOption.Kind.LIST, "NAMES", "IA3: modules to scale (default k_proj,v_proj,down_proj)."),
                MethodOption.of("--ia3-feedforward", "feedforward_modules", MethodOption.Kind.LIST, "NAMES",
                        "IA3: those of them whose input is scaled (default down_proj)."));
    }

    @Override
    public Adapter install(Ia3Config config, InstallContext ctx) {
        config.checkSupported();
        ModelShape m = ctx.model();
        List<String> targets = config.targets(), feedforward = config.feedforward();
        for (String f : feedforward) {
            if (!targets.contains(f)) throw new UserException("IA3 config: feedforward_modules " + f + " is not in target_modules " + targets);
        }
        List<Parameter> params = new ArrayList<>();
        for (int layer = 0; layer < m.nLayers(); layer++) {
            for (String t : targets) {
                LinearSite.Kind kind = LinearSite.Kind.ofHfName(t);
                if (kind == null || kind == LinearSite.Kind.LM_HEAD) {
                    throw new UserException("IA3 config: target_modules " + t + " is not a linear of a LLaMA layer (q_proj .. down_proj)");
                }
                LinearSite site = new LinearSite(layer, kind);
                boolean ff = feedforward.contains(t);
                int width = ff ? site.in(m) : site.out(m);
                ParamSpec.Init init = config.initIa3Weights() ? new ParamSpec.Init.Constant(1f) : ParamSpec.normal(1.0);
                Parameter l = ctx.trainable(new ParamSpec("base_model.model." + site.hfModulePath() + ".ia3_l",
                        ff ? new int[]{1, width} : new int[]{width, 1}, init));
                params.add(l);
                if (ff) ctx.addLinearInputHook(site, new Ia3Scale(l, width));
                else ctx.addLinearOutputHook(site, new Ia3Scale(l, width));
            }
        }
        List<Parameter> view = List.copyOf(params);
        return new Adapter() {
            @Override public PeftConfig config() { return config; }
            @Override public List<Parameter> parameters() { return view; }
        };
    }
}
