package dev.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.peft4j.api.LinearSite;
import dev.peft4j.api.ModelShape;
import dev.peft4j.api.UserException;
import dev.peft4j.models.LlamaConfig;
import dev.peft4j.models.LlamaWeights;
import dev.peft4j.models.peft.PeftModel;
import java.util.List;
import org.junit.jupiter.api.Test;

/** PEFT 0.21 LoraConfig fields, read from adapter_config.json text: honoured with PEFT's matching rules, or refused by name. */
class LoraConfigTest {
    private static final dev.peft4j.models.peft.PeftMethods METHODS = dev.peft4j.models.peft.PeftMethods.discover(null);
    private static final ModelShape SHAPE = PeftModel.shape(LlamaConfig.of(16, 24, 3, 4, 2, 20, 12, false));

    private static LoraConfig read(String fields) throws Exception {
        return METHODS.readConfig(new LoraMethod(), "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, " + fields + "}", "adapter_config.json");
    }

    private static List<String> paths(LoraConfig c) {
        return LoraMethod.sites(c, SHAPE).stream().map(LinearSite::hfModulePath).toList();
    }

    @Test
    void rankAndAlphaPatternsMatchTheEndOfTheModulePathAtADot() throws Exception {
        LoraConfig c = read("\"target_modules\": [\"q_proj\", \"v_proj\"], \"rank_pattern\": {\"layers.1.self_attn.v_proj\": 3, \"q_proj\": 2}, "
                + "\"alpha_pattern\": {\"model\\\\.layers\\\\.[02]\\\\..*q_proj\": 32}");
        assertEquals(2, LoraMethod.rankOf(c, "model.layers.0.self_attn.q_proj"));
        assertEquals(3, LoraMethod.rankOf(c, "model.layers.1.self_attn.v_proj"));
        assertEquals(4, LoraMethod.rankOf(c, "model.layers.2.self_attn.v_proj"), "no key matches: r");
        assertEquals(4, LoraMethod.rankOf(read("\"rank_pattern\": {\"v_proj\": 3}"), "model.layers.0.self_attn.xv_proj"), "only at a dot boundary");
        assertEquals(32.0, LoraMethod.alphaOf(c, "model.layers.2.self_attn.q_proj"));
        assertEquals(8.0, LoraMethod.alphaOf(c, "model.layers.1.self_attn.q_proj"));
        PeftModel m = new PeftModel(LlamaWeights.random(LlamaConfig.of(16, 24, 3, 4, 2, 20, 12, false), 1, 0.1f), 1);
        m.install(new LoraMethod(), c);
        assertEquals(3, m.trainableParameters().stream().filter(p -> p.name().equals("base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight"))
                .findFirst().orElseThrow().shape()[0]);
    }

    @Test
    void layersExclusionsAndRegularExpressionsSelectModulesAsPeft() throws Exception {
        assertEquals(List.of("model.layers.1.self_attn.q_proj"), paths(read("\"target_modules\": [\"q_proj\"], \"layers_to_transform\": 1, \"layers_pattern\": \"layers\"")));
        var e = assertThrows(UserException.class, () -> paths(read("\"target_modules\": [\"q_proj\"], \"layers_to_transform\": [1], \"layers_pattern\": \"h\"")));
        assertTrue(e.getMessage().contains("matches no linear layer"), e.getMessage());
        assertEquals(List.of("model.layers.1.self_attn.q_proj", "model.layers.2.self_attn.q_proj"),
                paths(read("\"target_modules\": [\"q_proj\"], \"exclude_modules\": [\"model.layers.0.self_attn.q_proj\"]")));
        assertEquals(3, paths(read("\"target_modules\": \".*q_proj\", \"layers_to_transform\": [0]")).size(), "a regular expression ignores layers_to_transform");
        assertEquals(List.of("model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj"),
                paths(read("\"target_modules\": [\"q_proj\", \"v_proj\", \"lm_head\"], \"layers_to_transform\": [0]")), "lm_head has no layer index");
    }

    @Test
    void fieldsThatChangeTheComputationAreHonouredOrRefusedByName() throws Exception {
        assertEquals("all", read("\"bias\": \"all\"").bias(), "LLaMA's linears have no bias: the same computation");
        for (String[] c : new String[][]{
                {"\"use_qalora\": true", "use_qalora"}, {"\"modules_to_save\": [\"lm_head\"]", "modules_to_save"},
                {"\"lora_bias\": true", "lora_bias"}, {"\"layer_replication\": [[0, 1]]", "layer_replication"},
                {"\"trainable_token_indices\": [1, 2]", "trainable_token_indices"}, {"\"bias\": \"some\"", "bias"}}) {
            var e = assertThrows(Exception.class, () -> read(c[0]), c[0]);
            String msg = e instanceof UserException ? e.getMessage() : e.getCause() != null ? e.getCause().getMessage() : e.getMessage();
            assertTrue(msg.contains(c[1]), c[0] + ": " + msg);
        }
        // ignored: they do not change what a loaded adapter computes
        read("\"use_qalora\": false, \"loftq_config\": {}, \"eva_config\": null, \"megatron_core\": \"megatron.core\", \"layer_replication\": null");
    }

    @Test
    void anyInitLoadsButOnlyTrueFalseAndGaussianStartFresh() throws Exception {
        LlamaWeights w = LlamaWeights.random(LlamaConfig.of(16, 24, 3, 4, 2, 20, 12, false), 1, 0.1f);
        LoraConfig pissa = read("\"init_lora_weights\": \"pissa_niter_4\"");
        var e = assertThrows(UserException.class, () -> new PeftModel(w, 1).install(new LoraMethod(), pissa));
        assertTrue(e.getMessage().contains("init_lora_weights 'pissa_niter_4' cannot start a fresh adapter"), e.getMessage());
        new PeftModel(w, 1).restore("lora", new LoraMethod(), pissa);
        PeftModel f = new PeftModel(w, 1);
        f.install(new LoraMethod(), read("\"init_lora_weights\": false"));
        float[] b = f.trainableParameters().get(1).data();
        double bound = Math.sqrt(6.0 / (6 * 4)); // kaiming-uniform a = √5 over fan_in r = 4
        boolean nonZero = false;
        for (float v : b) {
            assertTrue(Math.abs(v) <= bound, "B within nn.Linear's bound");
            nonZero |= v != 0;
        }
        assertTrue(nonZero, "init false: B is not zero");
    }
}
