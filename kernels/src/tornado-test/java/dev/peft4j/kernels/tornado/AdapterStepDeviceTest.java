package dev.peft4j.kernels.tornado;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * The training step with a LLaMA-Adapter (prompt and per-head gates on layers 1 and 2 of three, the gates
 * not zero, LoRA on q and v as always) as TaskGraphs on the TornadoVM device, against the same step as
 * plain Java: the losses of two steps, the adapter's gradients of the last step and its weights after it
 * agree within float rounding.
 */
class AdapterStepDeviceTest {
    private static final LoraStep.Shape SHAPE = new LoraStep.Shape(16, 3, 4, 2, 24, 29, 2, 5, 2, 4f, 1e-5f, 10000);
    private static final LoraStep.LlamaAdapter ADAPTER = new LoraStep.LlamaAdapter(3, 1);

    @Test
    void twoStepsOnTheDeviceMatchJava() {
        LoraStep.Weights weights = LoraStep.Weights.random(SHAPE, 1);
        try (LoraStep device = LoraStep.onDevice(SHAPE, weights, 5, ADAPTER, TornadoBackend.device(TornadoBackend.deviceIndexFromProperty()));
             LoraStep java = LoraStep.inJava(SHAPE, weights, 5, ADAPTER)) {
            float[][][] before = java.fetchAdapter();
            for (float[] gates : before[1]) for (float g : gates) assertNotEquals(0f, g, "the gates start non-zero");
            DeviceCheck.stepsMatch("adapter step", device, java, SHAPE, 2);
            float[][][] dg = device.fetchAdapterGradients(), jg = java.fetchAdapterGradients();
            float[][][] d = device.fetchAdapter(), j = java.fetchAdapter();
            assertEquals(2, d[0].length, "layers 1 and 2 carry the adapter");
            String[] names = {"adaption_prompt", "adaption_gate"};
            for (int p = 0; p < 2; p++)
                for (int a = 0; a < d[p].length; a++) {
                    String name = "layer_" + (a + ADAPTER.startLayer()) + "." + names[p];
                    DeviceCheck.check(name, d[p][a], j[p][a], 1e-4);
                    DeviceCheck.check(name + ".grad", dg[p][a], jg[p][a], 1e-4);
                    assertTrue(!Arrays.equals(before[p][a], j[p][a]), name + " moved");
                }
        }
    }
}
