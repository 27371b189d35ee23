package dev.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.Parameter;
import dev.peft4j.api.PeftMethod;
import dev.peft4j.api.UserException;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.peft.PeftMethodContract;
import dev.peft4j.models.peft.PeftModel;
import java.util.List;
import org.junit.jupiter.api.Test;

class LoraMethodTest extends PeftMethodContract<LoraConfig> {
    @Override protected PeftMethod<LoraConfig> method() { return new LoraMethod(); }

    @Override
    protected LoraConfig config(LlamaConfig model) {
        return LoraConfig.of(4, 8, List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"));
    }

    @Test
    void namesShapesAndInitFollowHuggingFacePeft() {
        PeftModel m = new PeftModel(base(), 3);
        PeftModel.Installed lora = m.install(method(), LoraConfig.of(4, 8, List.of("q_proj", "v_proj")));
        List<Parameter> p = lora.adapter().parameters();
        assertEquals(8, p.size()); // 2 layers x 2 sites x (A, B)
        assertEquals("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", p.get(0).name());
        assertArrayEquals(new int[]{4, 16}, p.get(0).shape());
        assertEquals("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", p.get(1).name());
        assertArrayEquals(new int[]{16, 4}, p.get(1).shape());
        assertEquals("base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight", p.get(3).name());
        assertArrayEquals(new int[]{8, 4}, p.get(3).shape(), "v_proj has kvDim outputs under GQA");
        double bound = Math.sqrt(6.0 / (6 * 16)); // kaiming_uniform(a=sqrt 5), fan_in 16
        float max = 0;
        for (float a : p.get(0).data()) max = Math.max(max, Math.abs(a));
        assertTrue(max <= bound && max > 0.8 * bound, "A ~ U(-" + bound + ", " + bound + "), max |A| " + max);
        for (float b : p.get(1).data()) assertEquals(0f, b);
    }

    @Test
    void mergedAndUnmergedAgreeAndUnmergeRestoresTheBase() {
        LlamaWeights w = base();
        List<float[]> before = w.tensors().stream().map(t -> t.data().clone()).toList();
        PeftModel m = new PeftModel(w, 3);
        PeftModel.Installed lora = m.install(method(), LoraConfig.of(4, 8, List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head")));
        randomize(m, 4);
        int[] tokens = batch(model(), 1, 8, 1).inputs();
        float[][] unmerged = m.inferenceModel().forwardAll(tokens);
        lora.adapter().merge();
        float[][] merged = m.inferenceModel().forwardAll(tokens);
        for (int t = 0; t < tokens.length; t++) assertArrayEquals(unmerged[t], merged[t], 1e-5f, "position " + t);
        lora.adapter().unmerge();
        List<LlamaWeights.Tensor> after = w.tensors();
        for (int i = 0; i < after.size(); i++) assertArrayEquals(before.get(i), after.get(i).data(), 1e-6f, after.get(i).name());
    }

    @Test
    void rsLoraScalesByTheSquareRootOfTheRank() {
        assertEquals(2.0, LoraConfig.of(16, 32, List.of("q_proj")).scaling());
        assertEquals(8.0, LoraConfig.of(16, 32, List.of("q_proj")).withRslora(true).scaling());
    }

    @Test
    void targetsByLayerRegexAndAllLinear() {
        LlamaConfig c = model();
        var shape = PeftModel.shape(c);
        assertEquals(4, LoraMethod.sites(LoraConfig.of(2, 2, null), shape).size(), "default: q_proj and v_proj of both layers");
        assertEquals(7, LoraMethod.sites(new LoraConfig("LORA", 2, 2, 0, "all-linear", List.of(1), false, true, "none", null, null, false, false, null, false), shape).size());
        assertEquals(2, LoraMethod.sites(new LoraConfig("LORA", 2, 2, 0, ".*\\.q_proj", null, false, true, "none", null, null, false, false, null, false), shape).size());
        assertEquals(1, LoraMethod.sites(LoraConfig.of(2, 2, List.of("q_proj")).withLayers(List.of(1)), shape).size());
    }

    @Test
    void refusesConfigsThatDoNotFitTheModel() {
        var shape = PeftModel.shape(model());
        var e = assertThrows(UserException.class, () -> LoraMethod.sites(LoraConfig.of(2, 2, List.of("c_attn")), shape));
        assertTrue(e.getMessage().contains("unknown target module 'c_attn'"), e.getMessage());
        e = assertThrows(UserException.class, () -> LoraMethod.sites(LoraConfig.of(2, 2, List.of("q_proj")).withLayers(List.of(5)), shape));
        assertTrue(e.getMessage().contains("layers_to_transform has layer 5"), e.getMessage());
        e = assertThrows(UserException.class, () -> LoraConfig.of(0, 2, List.of("q_proj")));
        assertTrue(e.getMessage().contains("r must be positive"), e.getMessage());
    }

    @Test
    void dropoutIsTheSameInARecomputedForward() {
        LlamaWeights w = base();
        PeftModel a = new PeftModel(w, 3), b = new PeftModel(w, 3);
        a.install(method(), config(model()).withDropout(0.3));
        b.install(method(), config(model()).withDropout(0.3));
        randomize(a, 4);
        randomize(b, 4);
        var batch = batch(model(), 2, 6, 2);
        assertEquals(a.trainer(2, 6, false).forwardBackward(batch), b.trainer(2, 6, true).forwardBackward(batch));
        List<Parameter> pa = a.trainableParameters(), pb = b.trainableParameters();
        for (int i = 0; i < pa.size(); i++) assertArrayEquals(pa.get(i).grad(), pb.get(i).grad(), pa.get(i).name());
    }
}
