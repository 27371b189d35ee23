package dev.peft4j.kernels.tornado;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A LoRA training step (forward, loss, backward, AdamW) as TaskGraphs of one execution plan on the
 * TornadoVM device, against the same step run as plain Java: the losses of three steps, the LoRA
 * gradients of the last step and the LoRA weights after it agree within float rounding; at two
 * layers and at six, and with LoRA on all seven linears.
 */
class LoraStepDeviceTest {
    private static final LoraStep.Shape SHAPE =
            new LoraStep.Shape(16, 2, 4, 2, 24, 29, 2, 5, 2, 4f, 1e-5f, 10000);

    /** The Java form of the step trains: the loss on one repeated batch falls. */
    @Test
    void javaStepLowersTheLossOnARepeatedBatch() {
        int n = SHAPE.n();
        int[] tokens = new int[n], targets = new int[n];
        float[] lossWeights = new float[n];
        SplittableRandom r = new SplittableRandom(11);
        for (int i = 0; i < n; i++) {
            tokens[i] = r.nextInt(SHAPE.vocab());
            targets[i] = r.nextInt(SHAPE.vocab());
            lossWeights[i] = 1f;
        }
        try (LoraStep java = LoraStep.inJava(SHAPE, LoraStep.Weights.random(SHAPE, 1), 5)) {
            double first = java.step(tokens, targets, lossWeights, 3e-2f), last = first;
            for (int i = 0; i < 20; i++) last = java.step(tokens, targets, lossWeights, 3e-2f);
            System.out.printf(Locale.ROOT, "java LoRA step: loss %.5f -> %.5f after 20 steps%n", first, last);
            org.junit.jupiter.api.Assertions.assertTrue(last < first - 0.05, "loss " + first + " -> " + last);
        }
    }

    @Test
    void threeStepsOnTheDeviceMatchJava() {
        threeStepsMatch(SHAPE, LoraStep.QV);
    }

    /** LoRA on q, k, v, o, gate, up and down: every site's forward and backward on the device. */
    @Test
    void loraOnAllSevenLinearsMatchesJava() {
        threeStepsMatch(SHAPE, EnumSet.allOf(LoraStep.Site.class));
    }

    /**
     * Six layers, the depth of stories15M: more than TornadoVM 5.2.0's 1024-node graph cap allowed
     * before the per-layer buffers were packed (each graph now hands on a fixed number of buffers).
     */
    @Test
    void sixLayersOnTheDeviceMatchJava() {
        threeStepsMatch(new LoraStep.Shape(16, 6, 4, 2, 24, 29, 2, 5, 2, 4f, 1e-5f, 10000), LoraStep.QV);
    }

    private static void threeStepsMatch(LoraStep.Shape SHAPE, Set<LoraStep.Site> sites) {
        LoraStep.Weights weights = LoraStep.Weights.random(SHAPE, 1);
        try (LoraStep device = LoraStep.of(SHAPE, weights, 5, sites, null, null, TornadoBackend.device(TornadoBackend.deviceIndexFromProperty()));
             LoraStep java = LoraStep.of(SHAPE, weights, 5, sites, null, null, null)) {
            double[] losses = DeviceCheck.stepsMatch("step", device, java, SHAPE, 3);
            assertNotEquals(losses[0], losses[2], "the LoRA weights moved");
            float[][][] dg = device.fetchLoraGradients(), jg = java.fetchLoraGradients();
            float[][][] d = device.fetchLora(), j = java.fetchLora();
            List<LoraStep.Site> order = java.loraSites();
            assertEquals(sites.size(), order.size());
            String[] names = new String[2 * order.size()];
            for (int i = 0; i < order.size(); i++) {
                names[2 * i] = order.get(i).module() + ".lora_A";
                names[2 * i + 1] = order.get(i).module() + ".lora_B";
            }
            for (int p = 0; p < names.length; p++)
                for (int l = 0; l < SHAPE.layers(); l++)
                    DeviceCheck.check("layer_" + l + "." + names[p], d[p][l], j[p][l], 1e-4);
            for (int p = 0; p < names.length; p++)
                for (int l = 0; l < SHAPE.layers(); l++)
                    DeviceCheck.check("layer_" + l + "." + names[p] + ".grad", dg[p][l], jg[p][l], 1e-4);
        }
    }
}
