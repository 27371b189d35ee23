package dev.peft4j.kernels.tornado;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.EnumSet;
import org.junit.jupiter.api.Test;

/**
 * The training step with prefix tuning (3 prefix rows per layer of three, LoRA on all seven linears, and once more
 * with a LLaMA-Adapter beside it) as TaskGraphs on the TornadoVM device, against the same step as plain Java: the
 * losses of two steps, the prefix table's gradient of the last step, the table after it and the LoRA gradients agree
 * within float rounding.
 */
class PrefixStepDeviceTest {
    private static final LoraStep.Shape SHAPE = new LoraStep.Shape(16, 3, 4, 2, 24, 29, 2, 5, 2, 4f, 1e-5f, 10000);
    private static final LoraStep.Prefix PREFIX = new LoraStep.Prefix(3);

    @Test
    void prefixWithLoraOnTheDeviceMatchesJava() {
        twoStepsMatch(null);
    }

    @Test
    void prefixWithLoraAndAdapterOnTheDeviceMatchesJava() {
        twoStepsMatch(new LoraStep.LlamaAdapter(2, 1));
    }

    private static void twoStepsMatch(LoraStep.LlamaAdapter adapter) {
        LoraStep.Weights weights = LoraStep.Weights.random(SHAPE, 1);
        var sites = EnumSet.allOf(LoraStep.Site.class);
        try (LoraStep device = LoraStep.of(SHAPE, weights, 5, sites, adapter, PREFIX,
                TornadoBackend.device(TornadoBackend.deviceIndexFromProperty()));
             LoraStep java = LoraStep.of(SHAPE, weights, 5, sites, adapter, PREFIX, null)) {
            float[] before = java.fetchPrefix();
            assertEquals(PREFIX.len() * PREFIX.width(SHAPE), before.length);
            DeviceCheck.stepsMatch("prefix step", device, java, SHAPE, 2);
            DeviceCheck.check("prefix.grad", device.fetchPrefixGradient(), java.fetchPrefixGradient(), 1e-4);
            float[] after = java.fetchPrefix();
            DeviceCheck.check("prefix", device.fetchPrefix(), after, 1e-4);
            assertTrue(!Arrays.equals(before, after), "the prefix table moved");
            float[][][] dg = device.fetchLoraGradients(), jg = java.fetchLoraGradients();
            for (int m = 0; m < dg.length; m++)
                for (int l = 0; l < SHAPE.layers(); l++) DeviceCheck.check("lora_" + m + ".layer_" + l + ".grad", dg[m][l], jg[m][l], 1e-4);
            if (adapter != null) {
                float[][][] ag = device.fetchAdapterGradients(), ajg = java.fetchAdapterGradients();
                for (int m = 0; m < 2; m++)
                    for (int a = 0; a < ag[m].length; a++) DeviceCheck.check("adapter_" + m + "." + a + ".grad", ag[m][a], ajg[m][a], 1e-4);
            }
        }
    }
}
