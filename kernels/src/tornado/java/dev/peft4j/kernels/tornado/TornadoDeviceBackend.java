package dev.peft4j.kernels.tornado;

import dev.peft4j.kernels.DeviceBackend;
import dev.peft4j.kernels.DeviceStep;
import dev.peft4j.kernels.DeviceStepSpec;
import java.util.EnumSet;
import java.util.Optional;

/**
 * The TornadoVM backend as a {@link DeviceBackend} service (META-INF/services in builds made with the {@code tornado}
 * profile). Its signatures hold no TornadoVM type, so it loads in a JVM without TornadoVM's runtime and says why it
 * cannot run there.
 */
public final class TornadoDeviceBackend implements DeviceBackend {
    @Override public String name() { return "tornado"; }

    @Override
    public Optional<String> unavailableReason() {
        try {
            return TornadoBackend.unavailableReason().map(r -> r.replaceFirst("^TornadoVM is not available: ", ""));
        } catch (LinkageError e) {
            return Optional.of("its runtime could not be loaded (" + e + "); run with the flags of `tornado --printJavaFlags`");
        }
    }

    @Override
    public String describe(int device) {
        return device < 0 ? "Java (the device form run as plain Java)" : TornadoBackend.describe(TornadoBackend.device(device));
    }

    @Override
    public DeviceStep openTrainer(DeviceStepSpec spec, int device) {
        DeviceStepSpec.Shape sh = spec.shape();
        DeviceStepSpec.LowRank lr = spec.lowRank();
        int rank = lr == null ? 1 : lr.rank();
        float scaling = lr == null ? 0f : lr.scaling();
        LoraStep.Shape s = new LoraStep.Shape(sh.dim(), sh.layers(), sh.heads(), sh.kvHeads(), sh.hidden(), sh.vocab(), sh.batch(), sh.seq(),
                rank, scaling * rank, spec.normEps(), 10000);
        EnumSet<LoraStep.Site> sites = EnumSet.noneOf(LoraStep.Site.class);
        if (lr != null) for (DeviceStepSpec.Linear l : lr.linears()) sites.add(LoraStep.Site.valueOf(l.name()));
        DeviceStepSpec.Base b = spec.base();
        LoraStep.Weights w = new LoraStep.Weights(b.embed(), LoraStep.Weights.pack(b.attnNorm()), LoraStep.Weights.pack(b.wq()),
                LoraStep.Weights.pack(b.wk()), LoraStep.Weights.pack(b.wv()), LoraStep.Weights.pack(b.wo()), LoraStep.Weights.pack(b.ffnNorm()),
                LoraStep.Weights.pack(b.wGate()), LoraStep.Weights.pack(b.wUp()), LoraStep.Weights.pack(b.wDown()), b.finalNorm(), b.head());
        DeviceStepSpec.GatedPrompt p = spec.prompt();
        DeviceStepSpec.Prefix x = spec.prefix();
        return LoraStep.forTraining(s, w, sites, lr != null && lr.head(), p == null ? null : new LoraStep.LlamaAdapter(p.length(), p.firstLayer()),
                x == null ? null : new LoraStep.Prefix(x.rows(), x.mlpHidden()), spec.invFreq(), device < 0 ? null : TornadoBackend.device(device));
    }
}
