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
        assertEquals(7, LoraMethod.sites(LoraConfig.matching(2, 2, "all-linear").withLayers(List.of(1)), shape).size());
        assertEquals(2, LoraMethod.sites(LoraConfig.matching(2, 2, ".*\\.q_proj"), shape).size());
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

    @Test
    void severalAdaptersLoadSwitchAndUnload(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        LlamaWeights w = base();
        int[] tokens = batch(model(), 1, 8, 2).inputs();
        float[][] plain = new dev.peft4j.models.LlamaModel(w).forwardAll(tokens);
        // two trained adapters, saved apart
        float[][][] alone = new float[2][][];
        for (int i = 0; i < 2; i++) {
            PeftModel m = new PeftModel(w, 10 + i);
            m.install(method(), LoraConfig.of(2, 4, List.of(i == 0 ? "q_proj" : "down_proj")));
            randomize(m, 20 + i);
            alone[i] = m.inferenceModel().forwardAll(tokens);
            dev.peft4j.models.peft.AdapterFiles.saveAll(m, dir.resolve("adapter" + i), methods, null);
        }
        PeftModel m = new PeftModel(w, 1);
        dev.peft4j.models.peft.AdapterFiles.load(m, dir.resolve("adapter0"), methods);
        dev.peft4j.models.peft.AdapterFiles.load(m, dir.resolve("adapter1"), methods);
        assertEquals(List.of("lora", "adapter1"), List.copyOf(m.adapters().keySet()));
        m.setActive("lora", false);
        assertArrayEquals(alone[1][5], m.inferenceModel().forwardAll(tokens)[5], "only the second active");
        m.setActive("lora", true);
        m.setActive("adapter1", false);
        assertArrayEquals(alone[0][5], m.inferenceModel().forwardAll(tokens)[5], "only the first active");
        assertEquals(4, m.trainableParameters().size(), "an inactive adapter does not train");
        m.unload("lora");
        assertArrayEquals(plain[5], m.inferenceModel().forwardAll(tokens)[5], "the first unloaded and the second switched off: the base model");
    }

    @Test
    void readsAnAdapterWrittenByHuggingFacePeft(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        // adapter_config.json as PEFT 0.x writes it, with fields peft4j does not use
        java.nio.file.Files.writeString(dir.resolve("adapter_config.json"), """
                {"alpha_pattern": {}, "auto_mapping": null, "base_model_name_or_path": "tiny", "bias": "none",
                 "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true, "layer_replication": null,
                 "layers_pattern": null, "layers_to_transform": null, "loftq_config": {}, "lora_alpha": 8, "lora_dropout": 0.05,
                 "megatron_config": null, "megatron_core": "megatron.core", "modules_to_save": null, "peft_type": "LORA", "r": 2,
                 "rank_pattern": {}, "revision": null, "target_modules": ["v_proj", "q_proj"], "task_type": "CAUSAL_LM",
                 "use_dora": false, "use_rslora": false}""");
        List<dev.peft4j.api.io.Safetensors.Tensor> tensors = new java.util.ArrayList<>();
        java.util.SplittableRandom r = new java.util.SplittableRandom(3);
        for (int l = 0; l < 2; l++) {
            for (String mod : new String[]{"q_proj", "v_proj"}) {
                int out = mod.equals("q_proj") ? 16 : 8;
                String k = "base_model.model.model.layers." + l + ".self_attn." + mod;
                float[] a = new float[2 * 16], b = new float[out * 2];
                for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
                for (int i = 0; i < b.length; i++) b[i] = (float) r.nextGaussian();
                tensors.add(new dev.peft4j.api.io.Safetensors.Tensor(k + ".lora_A.weight", new int[]{2, 16}, a));
                tensors.add(new dev.peft4j.api.io.Safetensors.Tensor(k + ".lora_B.weight", new int[]{out, 2}, b));
            }
        }
        dev.peft4j.api.io.Safetensors.write(dir.resolve("adapter_model.safetensors"), tensors, dev.peft4j.api.io.DType.F32, java.util.Map.of("format", "pt"));
        PeftModel m = new PeftModel(base(), 1);
        var loaded = dev.peft4j.models.peft.AdapterFiles.load(m, dir, methods);
        assertEquals(1, loaded.size());
        LoraConfig c = (LoraConfig) loaded.get(0).adapter().config();
        assertEquals(2, c.r());
        assertEquals(4.0, c.scaling());
        var q0 = m.trainableParameters().stream().filter(p -> p.name().equals("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight")).findFirst().orElseThrow();
        assertArrayEquals(tensors.get(1).data(), q0.data(), "weights land by name");
    }

    @Test
    void refusesAnAdapterThatDoesNotFitTheModel(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        PeftModel big = new PeftModel(LlamaWeights.random(LlamaConfig.of(32, 24, 2, 4, 2, 20, 12, false), 1, 0.1f), 1);
        big.install(method(), LoraConfig.of(2, 4, List.of("q_proj")));
        dev.peft4j.models.peft.AdapterFiles.saveAll(big, dir, methods, null);
        PeftModel m = new PeftModel(base(), 1);
        var e = assertThrows(UserException.class, () -> dev.peft4j.models.peft.AdapterFiles.load(m, dir, methods));
        assertTrue(e.getMessage().contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight has shape [2, 32] but this model needs [2, 16]"),
                e.getMessage());
        assertTrue(m.adapters().isEmpty(), "nothing is left half-installed");
    }
}
